package testbed

import (
	"context"
	"path/filepath"
	"testing"
)

// The bed runs eventing's programs built in tools/eventing and applies
// eventing's manifests and API types from the test module: both must be
// the same eventing and knative.dev/pkg.
func TestEventingProgramsMatchTheTestModule(t *testing.T) {
	ctx := context.Background()
	src, err := SourceDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []string{"knative.dev/eventing", "knative.dev/pkg"} {
		want, err := moduleVersion(ctx, src, mod)
		if err != nil {
			t.Fatal(err)
		}
		got, err := moduleVersion(ctx, filepath.Join(src, "tools", "eventing"), mod)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: tools/eventing builds %s, the test module requires %s", mod, got, want)
		}
	}
}
