package cluster

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
// is accepted by an API server that knows Knative's CRDs. Namespaces are
// created for real first: a dry-run into a missing namespace is refused.
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
	a := newApplier(t, bed)
	for _, o := range objs {
		if o.GVK.Kind != "Namespace" {
			continue
		}
		if err := a.apply(ctx, o, true); err != nil {
			t.Fatalf("dry-run %s: %v", o.Key(), err)
		}
		if err := a.apply(ctx, o, false); err != nil {
			t.Fatalf("apply %s: %v", o.Key(), err)
		}
		ns := o.Typed.(*corev1.Namespace).Name
		t.Cleanup(func() {
			_ = bed.Client().CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		})
	}
	n := 0
	for _, o := range append(objs, netpol...) {
		if o.GVK.Kind == "Namespace" || manifests.IsKustomize(o.GVK) {
			continue
		}
		if err := a.apply(ctx, o, true); err != nil {
			t.Errorf("dry-run %s (%s): %v", o.Key(), o.Source, err)
		}
		n++
	}
	if n < 15 {
		t.Fatalf("dry-ran only %d objects", n)
	}
	// The dry run stored nothing.
	if _, err := bed.Client().RbacV1().Roles(manifests.JobNamespace).Get(ctx, "job-executor", metav1.GetOptions{}); err == nil {
		t.Error("a dry-run created the Role")
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
