package policy

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	psa "k8s.io/pod-security-admission/policy"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/podsecurity"
)

// Violation is a built Job that breaks a hard rule. The job builder should
// never produce one; CheckJob is the independent last check, so that no
// config path (present or added later) can loosen the rules.
type Violation struct {
	Job string
	// Rule is Kubernetes' own wording of every failed Pod Security check
	// when PodSecurity is set, otherwise the rule of ours that was broken.
	Rule        string
	PodSecurity bool
}

func (v *Violation) Error() string {
	if v.PodSecurity {
		return fmt.Sprintf("job %s breaks Pod Security %q (%s): %s; it is not created", v.Job, podsecurity.Restricted.Level, podsecurity.Restricted.Version, v.Rule)
	}
	return fmt.Sprintf("job %s breaks the hard rule %q; it is not created", v.Job, v.Rule)
}

// CheckJob enforces the rules no policy can lift. First Kubernetes' own
// Pod Security evaluator at Restricted, on the pod template, so that
// "restricted" means exactly what the API server means by it. Then the
// rules of ours that are stricter than restricted or that it has no check
// for (ownRule).
func (p *Policy) CheckJob(job *batchv1.Job, s jobs.Settings) error {
	name := job.Namespace + "/" + job.Name
	failed, err := podSecurity(&job.Spec.Template)
	if err != nil {
		return err
	}
	if failed != "" {
		return &Violation{Job: name, Rule: failed, PodSecurity: true}
	}
	if rule := p.ownRule(&job.Spec.Template.Spec, s); rule != "" {
		return &Violation{Job: name, Rule: rule}
	}
	return nil
}

// podSecurity is the evaluator's verdict on a pod template: "" when every
// check allows it, else the failed checks in the API server's own words
// ("allowPrivilegeEscalation != false (container "task" must set ...)").
func podSecurity(tmpl *corev1.PodTemplateSpec) (string, error) {
	failed, err := podsecurity.Failures(&tmpl.ObjectMeta, &tmpl.Spec)
	if err != nil {
		return "", err
	}
	agg := psa.AggregateCheckResults(failed)
	if agg.Allowed {
		return "", nil
	}
	return agg.ForbiddenDetail(), nil
}

// ownRule names the first of our rules spec breaks, or "". Each is one
// Kubernetes' restricted does not have, or has looser:
//   - the Keptn API token Secret and the default account's token are this
//     project's own threats, not a pod's privileges;
//   - restricted allows the "safe" sysctls and csi, ephemeral and
//     persistentVolumeClaim volumes; a config can write none of them, so
//     a Job that has one came from a builder bug;
//   - restricted allows adding NET_BIND_SERVICE; we allow it only where
//     the operator's policy says so (pods.allowNetBindService);
//   - restricted does not look at groups; gid 0 owns root's files on most
//     images;
//   - restricted checks ephemeral containers' settings but not their
//     presence; a Job's template has no business carrying one.
func (p *Policy) ownRule(spec *corev1.PodSpec, s jobs.Settings) string {
	if s.TokenSecret != nil {
		if where := readsSecret(spec, s.TokenSecret.Name); where != "" {
			return fmt.Sprintf("the Keptn API token Secret %s is read by %s; only the %s container may read it", s.TokenSecret.Name, where, jobs.FetcherContainer)
		}
	}
	if (spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken) && (spec.ServiceAccountName == "" || spec.ServiceAccountName == "default") {
		return "no token of the default service account"
	}
	if len(spec.EphemeralContainers) > 0 {
		return "no ephemeral containers"
	}
	if sc := spec.SecurityContext; sc != nil {
		if len(sc.Sysctls) > 0 {
			return "no sysctls"
		}
		if sc.RunAsGroup != nil && *sc.RunAsGroup == 0 {
			return "pod runAsGroup 0"
		}
	}
	for _, v := range spec.Volumes {
		if v.EmptyDir == nil && v.ConfigMap == nil && v.Secret == nil && v.Projected == nil && v.DownwardAPI == nil {
			return fmt.Sprintf("volume %s: only emptyDir, configMap, secret, projected and downwardAPI volumes", v.Name)
		}
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		if rule := p.containerRule(&c); rule != "" {
			return fmt.Sprintf("container %s: %s", c.Name, rule)
		}
	}
	return ""
}

// containerRule is ownRule for one container that the evaluator has
// already passed (so it drops ALL and adds nothing but NET_BIND_SERVICE).
func (p *Policy) containerRule(c *corev1.Container) string {
	sc := c.SecurityContext
	if sc == nil {
		return ""
	}
	if sc.RunAsGroup != nil && *sc.RunAsGroup == 0 {
		return "runAsGroup 0"
	}
	if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 && !p.allowNetBindService {
		return fmt.Sprintf("capability %s added without pods.allowNetBindService", sc.Capabilities.Add[0])
	}
	return ""
}

// readsSecret names what in spec reads Secret name, other than the
// fetcher's own KEPTN_API_TOKEN.
func readsSecret(spec *corev1.PodSpec, name string) string {
	for _, r := range spec.ImagePullSecrets {
		if r.Name == name {
			return "imagePullSecrets"
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == name {
			return "volume " + v.Name
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil && src.Secret.Name == name {
					return "volume " + v.Name
				}
			}
		}
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil && e.SecretRef.Name == name {
				return "container " + c.Name + " (envFrom)"
			}
		}
		for _, e := range c.Env {
			ref := e.ValueFrom
			if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != name {
				continue
			}
			if c.Name == jobs.FetcherContainer && e.Name == jobs.FetcherTokenEnv {
				continue
			}
			return "container " + c.Name + " (env " + e.Name + ")"
		}
	}
	return ""
}
