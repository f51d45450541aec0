package manifests

import (
	"slices"
	"testing"
)

// platform is what config/knative/platform holds: everything that
// `kn func deploy` does not create.
var platform = []string{
	"Namespace keptn-job-executor",
	"Namespace keptn-jobs",
	"ServiceAccount keptn-job-executor/job-executor",
	"ServiceAccount keptn-job-executor/job-executor-sources",
	"ServiceAccount keptn-jobs/keptn-job",
	"Role keptn-jobs/job-executor",
	"RoleBinding keptn-jobs/job-executor",
	"Role keptn-jobs/job-executor-sources",
	"RoleBinding keptn-jobs/job-executor-sources",
	"Role keptn-jobs/job-executor-secret-labels",
	"RoleBinding keptn-jobs/job-executor-secret-labels",
	"Role keptn-job-executor/job-executor-sweep",
	"RoleBinding keptn-job-executor/job-executor-sweep",
	"ConfigMap keptn-job-executor/job-executor-config",
	"Broker keptn-job-executor/keptn",
	"Service keptn-job-executor/job-executor-dead-letter",
	"ApiServerSource keptn-job-executor/job-executor-jobs",
	"PingSource keptn-job-executor/job-executor-sweep",
}

var functionObjects = []string{
	"Service keptn-job-executor/job-executor",
	"Trigger keptn-job-executor/job-executor-keptn-tasks",
}

var networkPolicies = []string{
	"NetworkPolicy keptn-jobs/keptn-job-deny-ingress",
	"NetworkPolicy keptn-jobs/keptn-job-egress-dns-keptn",
}

func TestKustomizeBuildsExpectedObjects(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs func(t testing.TB) []Object
		want []string
	}{
		{"platform", func(t testing.TB) []Object { return build(t, knativeDir(t, "platform")) }, platform},
		{"whole install", func(t testing.TB) []Object { return build(t, knativeDir(t)) }, concat(platform, functionObjects)},
		{"with network policy component", overlayWithNetworkPolicy, concat(platform, functionObjects, networkPolicies)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, o := range tc.objs(t) {
				got = append(got, o.Key())
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Fatalf("objects:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// Namespaces must come first so `kubectl apply -k` can create the rest in
// one pass; kustomize keeps the resources' order, so this guards it.
func TestNamespacesComeFirst(t *testing.T) {
	objs := build(t, knativeDir(t))
	for i, o := range objs {
		if o.GVK.Kind != "Namespace" {
			for _, rest := range objs[i:] {
				if rest.GVK.Kind == "Namespace" {
					t.Fatalf("%s comes after %s", rest.Key(), o.Key())
				}
			}
			return
		}
	}
}

func concat(lists ...[]string) []string { return slices.Concat(lists...) }
