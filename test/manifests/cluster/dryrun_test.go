package cluster

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// applier server-side applies objects like `kubectl apply --server-side
// --validate=strict [--dry-run=server]`.
type applier struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func newApplier(t *testing.T, bed *testbed.Bed) *applier {
	dc, err := discovery.NewDiscoveryClientForConfig(bed.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &applier{dyn: bed.Dynamic(), mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
}

func (a *applier) apply(ctx context.Context, o manifests.Object, dryRun bool) error {
	m, err := a.mapper.RESTMapping(o.GVK.GroupKind(), o.GVK.Version)
	if err != nil {
		return err
	}
	meta := o.Typed.(metav1.Object)
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		ri = a.dyn.Resource(m.Resource).Namespace(meta.GetNamespace())
	}
	body, err := json.Marshal(o.Typed)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "manifests-test", Force: ptr(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Patch(ctx, meta.GetName(), types.ApplyPatchType, body, opts)
	return err
}

func ptr[T any](v T) *T { return &v }

// Every object of the whole install, the optional NetworkPolicies included,
// is accepted by an API server that knows Knative's CRDs. A dry run into a
// missing namespace is refused, so the objects go to fresh namespaces
// standing in for keptn-job-executor and keptn-jobs (reruns never meet a
// namespace still terminating); the Namespaces themselves are dry-run as
// shipped.
func TestServerSideDryRun(t *testing.T) {
	bed := testbed.Get(t)
	ctx := context.Background()
	root, err := manifests.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.Build(filepath.Join(root, "config", "knative"))
	if err != nil {
		t.Fatal(err)
	}
	netpol, err := manifests.LoadDir(filepath.Join(root, "config", "knative", "components", "job-network-policy"))
	if err != nil {
		t.Fatal(err)
	}
	move := map[string]string{
		manifests.FunctionNamespace: testbed.Namespace(t),
		manifests.JobNamespace:      testbed.Namespace(t, testbed.Restricted()),
	}
	a := newApplier(t, bed)
	n := 0
	for _, o := range append(objs, netpol...) {
		if manifests.IsKustomize(o.GVK) {
			continue
		}
		if m := o.Typed.(metav1.Object); o.GVK.Kind != "Namespace" {
			ns, ok := move[m.GetNamespace()]
			if !ok {
				t.Errorf("%s: unexpected namespace", o.Key())
				continue
			}
			m.SetNamespace(ns)
		}
		if err := a.apply(ctx, o, true); err != nil {
			t.Errorf("dry-run %s (%s): %v", o.Key(), o.Source, err)
		}
		n++
	}
	if n < 18 {
		t.Fatalf("dry-ran only %d objects", n)
	}
	// The dry run stored nothing.
	if _, err := bed.Client().CoreV1().Namespaces().Get(ctx, manifests.JobNamespace, metav1.GetOptions{}); err == nil {
		t.Error("a dry run created namespace " + manifests.JobNamespace)
	}
	if roles, err := bed.Client().RbacV1().Roles(move[manifests.JobNamespace]).List(ctx, metav1.ListOptions{}); err != nil || len(roles.Items) != 0 {
		t.Errorf("a dry run created Roles: %v %v", roles, err)
	}
}

// The API server refuses what the schemas refuse: proof that the dry run
// checks fields rather than passing anything.
func TestServerSideDryRunRefusesUnknownFields(t *testing.T) {
	bed := testbed.Get(t)
	ns := testbed.Namespace(t)
	a := newApplier(t, bed)
	m, err := a.mapper.RESTMapping(schema.GroupKind{Group: "sources.knative.dev", Kind: "PingSource"}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]any{"apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
		"metadata": map[string]any{"name": "x", "namespace": ns},
		"spec":     map[string]any{"schedule": "* * * * *", "schedul": "x"}})
	_, err = a.dyn.Resource(m.Resource).Namespace(ns).Patch(context.Background(), "x", types.ApplyPatchType, raw,
		metav1.PatchOptions{FieldManager: "manifests-test", FieldValidation: "Strict", DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), "schedul") {
		t.Fatalf("dry-run of spec.schedul: %v, want it refused", err)
	}
}
