package manifests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventingconfig "knative.dev/eventing/pkg/apis/config"
	"knative.dev/eventing/pkg/apis/feature"
	sourcesconfig "knative.dev/eventing/pkg/apis/sources/config"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/configmap"
	servingconfig "knative.dev/serving/pkg/apis/config"
	"sigs.k8s.io/yaml"
)

// The admission webhooks of Knative decorate the context handed to
// SetDefaults/Validate with config stores fed from the ConfigMaps in
// knative-eventing / knative-serving (eventing cmd/webhook/main.go
// NewValidationAdmissionController, serving cmd/webhook/main.go). These
// helpers build the same stores from the ConfigMaps each release ships
// (config/core/configmaps in the module), so the checks run with the
// defaults a fresh install has, e.g. delivery-timeout enabled and
// new-apiserversource-filters disabled.

// storeLogger routes the stores' logging to the test; a ConfigMap the
// store cannot parse fails the test instead of exiting the process.
type storeLogger struct{ t testing.TB }

func (l storeLogger) Debugf(string, ...any)     {}
func (l storeLogger) Infof(string, ...any)      {}
func (l storeLogger) Errorf(f string, a ...any) { l.t.Errorf(f, a...) }
func (l storeLogger) Fatalf(f string, a ...any) { l.t.Fatalf(f, a...) }

var _ configmap.Logger = storeLogger{}

// releaseConfigMap reads config/core/configmaps/<file> of module mod.
func releaseConfigMap(t testing.TB, mod, file string) *corev1.ConfigMap {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", mod, err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "config", "core", "configmaps", file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("release ConfigMap: %v", err)
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &cm
}

// untypedStore is what the stores share; OnConfigChanged panics on a name
// the store has no constructor for, so each store gets only its own.
type untypedStore interface {
	OnConfigChanged(*corev1.ConfigMap)
	ToContext(context.Context) context.Context
}

func fill(t testing.TB, s untypedStore, mod string, files ...string) untypedStore {
	for _, f := range files {
		s.OnConfigChanged(releaseConfigMap(t, mod, f))
	}
	return s
}

// eventingContext is the context eventing's webhook validates a create in.
func eventingContext(t testing.TB) context.Context {
	const mod = "knative.dev/eventing"
	log := storeLogger{t}
	ctx := context.Background()
	for _, s := range []untypedStore{
		fill(t, eventingconfig.NewStore(log), mod, "default-broker.yaml"),
		fill(t, sourcesconfig.NewStore(log), mod, "default-pingsource.yaml"),
		fill(t, feature.NewStore(log), mod, "features.yaml"),
	} {
		ctx = s.ToContext(ctx) //nolint:fatcontext // each store adds its configuration to the context
	}
	return apis.WithinCreate(ctx)
}

// servingContext is the context serving's webhook validates a create in.
func servingContext(t testing.TB) context.Context {
	s := fill(t, servingconfig.NewStore(storeLogger{t}), "knative.dev/serving",
		"defaults.yaml", "features.yaml", "autoscaler.yaml")
	return apis.WithinCreate(s.ToContext(context.Background()))
}
