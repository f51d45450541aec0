package manifests

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// grants is what each ServiceAccount ("ns/name") may do, per namespace, as
// "verb group/resource" ("" group written as core), from Roles and
// RoleBindings alone: the static twin of the SubjectAccessReview proof
// that needs a running API server.
type grants map[string]map[string][]string

func effectiveGrants(t *testing.T, objs []Object) grants {
	t.Helper()
	roles := map[string]*rbacv1.Role{}
	for _, r := range all[*rbacv1.Role](objs) {
		roles[r.Namespace+"/"+r.Name] = r
	}
	g := grants{}
	for _, b := range all[*rbacv1.RoleBinding](objs) {
		if b.RoleRef.Kind != "Role" {
			t.Errorf("RoleBinding %s/%s binds a %s; only namespaced Roles are allowed", b.Namespace, b.Name, b.RoleRef.Kind)
			continue
		}
		role := roles[b.Namespace+"/"+b.RoleRef.Name]
		if role == nil {
			t.Errorf("RoleBinding %s/%s: no Role %s", b.Namespace, b.Name, b.RoleRef.Name)
			continue
		}
		for _, s := range b.Subjects {
			if s.Kind != rbacv1.ServiceAccountKind {
				t.Errorf("RoleBinding %s/%s binds %s %s; only ServiceAccounts are expected", b.Namespace, b.Name, s.Kind, s.Name)
				continue
			}
			sa := s.Namespace + "/" + s.Name
			if g[sa] == nil {
				g[sa] = map[string][]string{}
			}
			for _, r := range role.Rules {
				for _, group := range r.APIGroups {
					for _, res := range r.Resources {
						for _, v := range r.Verbs {
							if group == "" {
								group = "core"
							}
							g[sa][b.Namespace] = append(g[sa][b.Namespace], v+" "+group+"/"+res)
						}
					}
				}
			}
		}
	}
	for _, perNS := range g {
		for ns := range perNS {
			slices.Sort(perNS[ns])
			perNS[ns] = slices.Compact(perNS[ns])
		}
	}
	return g
}

func (g grants) allowed(sa, ns, verb, groupResource string) bool {
	return slices.Contains(g[sa][ns], verb+" "+groupResource)
}

func expand(verbs []string, groupResource string) []string {
	var out []string
	for _, v := range verbs {
		out = append(out, v+" "+groupResource)
	}
	return out
}

func TestRBACGrantsExactlyWhatTheFunctionNeeds(t *testing.T) {
	objs := build(t, knativeDir(t))
	g := effectiveGrants(t, objs)
	fnSA := "keptn-job-executor/" + find[*servingv1.Service](t, objs, fnKey).Spec.Template.Spec.ServiceAccountName
	jobNS := find[*corev1.ConfigMap](t, objs, configKey).Data["JOB_NAMESPACE"]

	want := map[string]map[string][]string{
		fnSA: {jobNS: slices.Concat(
			expand([]string{"create", "get", "list", "watch", "update", "patch", "delete"}, "batch/jobs"),
			expand([]string{"get", "list"}, "core/pods"),
			[]string{"get core/pods/log", "create core/events", "create events.k8s.io/events", "patch events.k8s.io/events"},
			// The opt-in label of Secrets tasks read (docs/security.md).
			[]string{"get core/secrets"},
		),
			// Its own PingSource's schedule (scale to zero), by name:
			// TestRBACIsTight.
			"keptn-job-executor": expand([]string{"get", "update"}, "sources.knative.dev/pingsources"),
		},
		"keptn-job-executor/job-executor-sources": {jobNS: slices.Concat(
			expand([]string{"get", "list", "watch"}, "batch/jobs"),
			expand([]string{"get", "list", "watch"}, "core/pods"),
		)},
	}
	for sa, perNS := range want {
		for ns := range perNS {
			slices.Sort(perNS[ns])
		}
		if fmt.Sprint(g[sa]) != fmt.Sprint(perNS) {
			t.Errorf("%s may:\n %v\nwant exactly:\n %v", sa, g[sa], perNS)
		}
	}
	for sa := range g {
		if _, ok := want[sa]; !ok {
			t.Errorf("unexpected grants to %s: %v", sa, g[sa])
		}
	}
}

func TestRBACIsTight(t *testing.T) {
	objs := overlayWithNetworkPolicy(t)
	for _, o := range objs {
		if o.GVK.Kind == "ClusterRole" || o.GVK.Kind == "ClusterRoleBinding" {
			t.Errorf("%s: nothing here may be granted cluster-wide", o.Key())
		}
	}
	for _, r := range all[*rbacv1.Role](objs) {
		for i, rule := range r.Rules {
			for _, v := range slices.Concat(rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames) {
				if strings.Contains(v, "*") {
					t.Errorf("Role %s/%s rule %d: wildcard %q", r.Namespace, r.Name, i, v)
				}
			}
			// Secrets: only get (labels of opted-in Secrets), only in job
			// namespaces; the token comes from env.
			if slices.Contains(rule.Resources, "secrets") && (len(rule.Resources) != 1 || !slices.Equal(rule.Verbs, []string{"get"}) || r.Namespace == "keptn-job-executor") {
				t.Errorf("Role %s/%s rule %d grants %v on %v; want get on secrets alone, in a job namespace", r.Namespace, r.Name, i, rule.Verbs, rule.Resources)
			}
		}
	}
	// The PingSource grant names the one PingSource the function switches.
	sweep := strings.SplitN(find[*corev1.ConfigMap](t, objs, configKey).Data["SWEEP_PINGSOURCE"], "/", 2)
	for _, r := range all[*rbacv1.Role](objs) {
		for i, rule := range r.Rules {
			if slices.Contains(rule.Resources, "pingsources") && (len(sweep) != 2 || r.Namespace != sweep[0] || !slices.Equal(rule.ResourceNames, sweep[1:]) || len(rule.Resources) != 1) {
				t.Errorf("Role %s/%s rule %d grants %v on pingsources %v; want only SWEEP_PINGSOURCE %v", r.Namespace, r.Name, i, rule.Verbs, rule.ResourceNames, sweep)
			}
		}
	}
	g := effectiveGrants(t, objs)
	fn, src := "keptn-job-executor/job-executor", "keptn-job-executor/job-executor-sources"
	for _, tc := range []struct {
		sa, ns, verb, res string
		allowed           bool
	}{
		{fn, "keptn-jobs", "create", "batch/jobs", true},
		{fn, "keptn-jobs", "get", "core/pods/log", true},
		{fn, "keptn-job-executor", "create", "batch/jobs", false},
		{fn, "default", "create", "batch/jobs", false},
		{fn, "keptn-jobs", "get", "core/secrets", true},
		{fn, "keptn-jobs", "list", "core/secrets", false},
		{fn, "keptn-jobs", "watch", "core/secrets", false},
		{fn, "keptn-job-executor", "get", "core/secrets", false},
		{src, "keptn-jobs", "get", "core/secrets", false},
		{fn, "keptn-jobs", "create", "core/pods", false},
		{fn, "keptn-jobs", "delete", "core/pods", false},
		{fn, "keptn-jobs", "create", "batch/cronjobs", false},
		{src, "keptn-jobs", "watch", "batch/jobs", true},
		{src, "keptn-jobs", "create", "batch/jobs", false},
		{"keptn-jobs/keptn-job", "keptn-jobs", "get", "batch/jobs", false},
		{fn, "keptn-job-executor", "update", "sources.knative.dev/pingsources", true},
		{fn, "keptn-job-executor", "create", "sources.knative.dev/pingsources", false},
		{fn, "keptn-job-executor", "delete", "sources.knative.dev/pingsources", false},
		{fn, "keptn-job-executor", "update", "sources.knative.dev/apiserversources", false},
		{fn, "keptn-jobs", "update", "sources.knative.dev/pingsources", false},
		{src, "keptn-job-executor", "update", "sources.knative.dev/pingsources", false},
	} {
		if got := g.allowed(tc.sa, tc.ns, tc.verb, tc.res); got != tc.allowed {
			t.Errorf("%s %s %s in %s: allowed=%v, want %v", tc.sa, tc.verb, tc.res, tc.ns, got, tc.allowed)
		}
	}
}

// Task pods run user images: their account has no token and no grants.
func TestJobServiceAccountHasNoToken(t *testing.T) {
	objs := build(t, knativeDir(t))
	cfg := find[*corev1.ConfigMap](t, objs, configKey).Data
	sa := find[*corev1.ServiceAccount](t, objs, "ServiceAccount "+cfg["JOB_NAMESPACE"]+"/"+cfg["JOB_SERVICE_ACCOUNT"])
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be false")
	}
	if g := effectiveGrants(t, objs)[sa.Namespace+"/"+sa.Name]; len(g) != 0 {
		t.Errorf("task pods' account may %v", g)
	}
}
