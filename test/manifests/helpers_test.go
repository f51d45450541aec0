package manifests

import (
	"os"
	"path/filepath"
	"testing"
)

func repoPath(t testing.TB, elem ...string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

func knativeDir(t testing.TB, elem ...string) string {
	return repoPath(t, append([]string{"config", "knative"}, elem...)...)
}

func build(t testing.TB, dir string) []Object {
	t.Helper()
	objs, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// overlayWithNetworkPolicy builds what an operator's overlay enabling the
// optional component yields.
func overlayWithNetworkPolicy(t testing.TB) []Object {
	t.Helper()
	return overlayWith(t, "job-network-policy")
}

// overlayWith builds config/knative with the named optional components.
func overlayWith(t testing.TB, components ...string) []Object {
	t.Helper()
	dir := t.TempDir()
	// kustomize refuses absolute paths in resources and components.
	rel := func(target string) string {
		r, err := filepath.Rel(dir, target)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel(knativeDir(t)) + "\ncomponents:\n"
	for _, c := range components {
		k += "- " + rel(knativeDir(t, "components", c)) + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return build(t, dir)
}

// find returns the single object of kind named namespace/name.
func find[T any](t testing.TB, objs []Object, key string) T {
	t.Helper()
	for _, o := range objs {
		if o.Key() == key {
			v, ok := o.Typed.(T)
			if !ok {
				t.Fatalf("%s: is %T", key, o.Typed)
			}
			return v
		}
	}
	t.Fatalf("no %s in the manifests", key)
	var zero T
	return zero
}

func all[T any](objs []Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Typed.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
