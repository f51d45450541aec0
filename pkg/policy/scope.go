package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
)

// SecretReader reads the labels of a Secret; only its metadata is needed,
// so an implementation need not (and should not) fetch the data.
type SecretReader interface {
	SecretLabels(ctx context.Context, namespace, name string) (map[string]string, error)
}

// checkScope checks the action's namespace and service account. An action
// that names none runs in the operator's defaults, which are always allowed.
func (p *Policy) checkScope(cfg *jobconfig.Config, a *jobconfig.Action, defNamespace, defAccount string) jobconfig.ErrorList {
	var errs jobconfig.ErrorList
	if a.Namespace != "" && a.Namespace != defNamespace && p.namespaces != nil && !anyGlob(p.namespaces, a.Namespace) {
		errs = append(errs, cfg.Errorf(a.Pos, "namespace", "namespace %q is refused by the operator's policy, rule %s: allowed are %s",
			a.Namespace, p.cite(rule{Path: "namespaces", Line: lineOf(p.namespaces)}), namesOr(p.namespaces, defNamespace)))
	}
	if a.ServiceAccount != "" && a.ServiceAccount != defAccount && p.accounts != nil && !anyGlob(p.accounts, a.ServiceAccount) {
		errs = append(errs, cfg.Errorf(a.Pos, "serviceAccount", "service account %q is refused by the operator's policy, rule %s: allowed are %s",
			a.ServiceAccount, p.cite(rule{Path: "serviceAccounts", Line: lineOf(p.accounts)}), namesOr(p.accounts, defAccount)))
	}
	return errs
}

func lineOf(list []*namedGlob) int {
	if len(list) == 0 {
		return 0
	}
	return list[0].Line
}

func namesOr(list []*namedGlob, def string) string {
	s := globList(list)
	switch {
	case def == "":
		return orNone(s)
	case s == "":
		return def + " (the default)"
	}
	return def + " (the default), " + s
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// controlPlaneKeys are the node labels and taints of control-plane nodes.
var controlPlaneKeys = map[string]bool{
	"node-role.kubernetes.io/control-plane": true,
	"node-role.kubernetes.io/master":        true,
}

// checkPlacement keeps task pods off nodes they were not meant for. A
// toleration without a key tolerates every taint (NoExecute included) and
// is never allowed; selecting or tolerating control-plane nodes, where the
// API server's credentials live, needs pods.allowControlPlane.
func (p *Policy) checkPlacement(cfg *jobconfig.Config, a *jobconfig.Action) jobconfig.ErrorList {
	var errs jobconfig.ErrorList
	for i, t := range a.Tolerations {
		field := fmt.Sprintf("tolerations[%d]", i)
		switch {
		case t.Key == "":
			errs = append(errs, cfg.Errorf(a.Pos, field, "a toleration without a key tolerates every taint of every node; name the taint's key"))
		case controlPlaneKeys[t.Key] && !p.allowControlPlane:
			errs = append(errs, cfg.Errorf(a.Pos, field, "tolerating %s puts task pods on control-plane nodes; the operator's policy does not allow it (pods.allowControlPlane)", t.Key))
		}
	}
	if p.allowControlPlane {
		return errs
	}
	for _, k := range slices.Sorted(maps.Keys(a.NodeSelector)) {
		if controlPlaneKeys[k] {
			errs = append(errs, cfg.Errorf(a.Pos, "nodeSelector."+k, "selects control-plane nodes; the operator's policy does not allow it (pods.allowControlPlane)"))
		}
	}
	if a.Affinity != nil && a.Affinity.NodeAffinity != nil {
		na := a.Affinity.NodeAffinity
		var terms []corev1.NodeSelectorTerm
		if na.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			terms = append(terms, na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms...)
		}
		for _, pt := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, pt.Preference)
		}
		for _, term := range terms {
			for _, e := range term.MatchExpressions {
				if controlPlaneKeys[e.Key] && (e.Operator == corev1.NodeSelectorOpIn || e.Operator == corev1.NodeSelectorOpExists) {
					errs = append(errs, cfg.Errorf(a.Pos, "affinity.nodeAffinity", "selects control-plane nodes (%s); the operator's policy does not allow it (pods.allowControlPlane)", e.Key))
				}
			}
		}
	}
	return errs
}

// checkCapabilities refuses added capabilities: the job builder lets
// NET_BIND_SERVICE through (Pod Security "restricted" does), the policy
// only when the operator says so.
func (p *Policy) checkCapabilities(cfg *jobconfig.Config, t *jobconfig.Task) jobconfig.ErrorList {
	if t.SecurityContext == nil || t.SecurityContext.Capabilities == nil {
		return nil
	}
	var errs jobconfig.ErrorList
	for _, c := range t.SecurityContext.Capabilities.Add {
		if c == "NET_BIND_SERVICE" && p.allowNetBindService {
			continue
		}
		errs = append(errs, cfg.Errorf(t.Pos, "securityContext.capabilities.add", "adding capability %q is refused by the operator's policy (pods.allowNetBindService permits NET_BIND_SERVICE only)", c))
	}
	return errs
}

// checkResources refuses a task that asks for more than the operator's
// ceiling. Extended resources (say nvidia.com/gpu) must be listed in
// resources.max once it is set; cpu, memory and ephemeral-storage are
// bounded only if listed.
func (p *Policy) checkResources(cfg *jobconfig.Config, t *jobconfig.Task) jobconfig.ErrorList {
	if p.resources.max == nil || t.Resources == nil {
		return nil
	}
	var errs jobconfig.ErrorList
	for _, kind := range []struct {
		name string
		list corev1.ResourceList
	}{{"limits", t.Resources.Limits}, {"requests", t.Resources.Requests}} {
		for _, name := range sortedResources(kind.list) {
			q := kind.list[name]
			field := "resources." + kind.name + "." + string(name)
			ceiling, ok := p.resources.max[name]
			switch {
			case ok && q.Cmp(ceiling) > 0:
				errs = append(errs, cfg.Errorf(t.Pos, field, "%s is above the operator's ceiling %s (rule %s)", q.String(), ceiling.String(), p.cite(rule{Path: "resources.max." + string(name), Line: p.resources.maxAt.Line})))
			case !ok && !standardResources[name]:
				errs = append(errs, cfg.Errorf(t.Pos, field, "%s is not offered by the operator (rule %s lists no %s)", name, p.cite(p.resources.maxAt), name))
			}
		}
	}
	return errs
}

var standardResources = map[corev1.ResourceName]bool{
	corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourceEphemeralStorage: true,
}

// secretRef is a Secret a task's env or the action's imagePullSecrets
// reads, with the entry that reads it.
type secretRef struct {
	name  string
	pos   jobconfig.Pos
	field string
}

func secretRefs(t *jobconfig.Task) []secretRef {
	var out []secretRef
	for _, e := range t.Env {
		switch {
		case e.ValueFrom == jobconfig.EnvFromSecret:
			out = append(out, secretRef{name: e.Name, pos: e.Pos})
		case e.ValueFrom == jobconfig.EnvFromSecretKey && e.SecretKeyRef != nil:
			out = append(out, secretRef{name: e.SecretKeyRef.Name, pos: e.Pos})
		}
	}
	return out
}

// pullSecretRefs are the action's imagePullSecrets: the kubelet reads them
// for the pod, so they opt in by the same label as env Secrets.
func pullSecretRefs(a *jobconfig.Action) []secretRef {
	out := make([]secretRef, 0, len(a.ImagePullSecrets))
	for i, name := range a.ImagePullSecrets {
		out = append(out, secretRef{name: name, pos: a.Pos, field: fmt.Sprintf("imagePullSecrets[%d]", i)})
	}
	return out
}

// checkTokenSecret is a hard rule, whatever the policy or a Secret's labels
// say: the Secret that holds the fetcher's Keptn API token is read by the
// fetcher and by nothing a config writes.
func checkTokenSecret(cfg *jobconfig.Config, refs []secretRef, token string) jobconfig.ErrorList {
	var errs jobconfig.ErrorList
	for _, r := range refs {
		if token != "" && r.name == token {
			errs = append(errs, cfg.Errorf(r.pos, r.field, "Secret %q holds the Keptn API token (KEPTN_API_TOKEN_SECRET): only the file fetcher may read it, never a task", r.name))
		}
	}
	return errs
}

// checkSecrets requires every Secret a task reads to carry the operator's
// opt-in label. A pod reads Secrets of its own namespace only, so the
// label is looked up there: a Secret that opted in for one namespace's jobs
// does not open another's.
func (p *Policy) checkSecrets(ctx context.Context, cfg *jobconfig.Config, refs []secretRef, namespace string) (errs, warns jobconfig.ErrorList, err error) {
	if p.secretLabel == nil || len(refs) == 0 {
		return nil, nil, nil
	}
	if p.secrets == nil {
		return nil, nil, fmt.Errorf("Secret %q: the opt-in label %s=%s cannot be checked without a Secret reader: %w", refs[0].name, p.secretLabel.Key, p.secretLabel.Value, ErrUnavailable) //nolint:staticcheck // ST1005: Secret is the Kubernetes kind
	}
	type lookup struct {
		labels map[string]string
		err    error
	}
	seen := map[string]lookup{}
	for _, r := range refs {
		l, ok := seen[r.name]
		if !ok {
			l.labels, l.err = p.secrets.SecretLabels(ctx, namespace, r.name)
			seen[r.name] = l
		}
		switch {
		case errors.Is(l.err, ErrNotChecked):
			warns = append(warns, cfg.Errorf(r.pos, r.field, "Secret %q must carry the label %s=%s in namespace %s (rule %s); this is checked in the cluster, not here",
				r.name, p.secretLabel.Key, p.secretLabel.Value, namespace, p.cite(p.secretLabel.rule)))
		case apierrors.IsNotFound(l.err):
			errs = append(errs, cfg.Errorf(r.pos, r.field, "Secret %q does not exist in namespace %s", r.name, namespace))
		case apierrors.IsForbidden(l.err):
			errs = append(errs, cfg.Errorf(r.pos, r.field, "the function may not read Secret %q in namespace %s to check its opt-in label (it needs get on secrets there): %v", r.name, namespace, l.err))
		case l.err != nil:
			return nil, nil, fmt.Errorf("reading Secret %s/%s: %w: %w", namespace, r.name, ErrUnavailable, l.err)
		case l.labels[p.secretLabel.Key] != p.secretLabel.Value:
			errs = append(errs, cfg.Errorf(r.pos, r.field, "Secret %q in namespace %s is refused by the operator's policy, rule %s: it lacks the label %s=%s that opts it in for tasks",
				r.name, namespace, p.cite(p.secretLabel.rule), p.secretLabel.Key, p.secretLabel.Value))
		}
	}
	return errs, warns, nil
}

func sortedResources(list corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(list))
	for k := range list {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
