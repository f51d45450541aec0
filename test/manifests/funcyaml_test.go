package manifests

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/attributes"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// funcYAMLCheck is the path of funcyaml-check (test/tools/func), which loads
// a func.yaml with kn func's own loader and runs kn func's validation. The
// test bed's tool cache builds it on first use (see test/README.md).
var funcYAMLCheck = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	return testbed.FuncYAMLCheck(ctx, os.Stderr)
})

// checkFuncYAML runs funcyaml-check on a directory holding data as its
// func.yaml and returns its output and exit code.
func checkFuncYAML(t *testing.T, data []byte) (string, int) {
	t.Helper()
	bin, err := funcYAMLCheck()
	if err != nil {
		t.Fatalf("funcyaml-check: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "func.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, dir).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("funcyaml-check: %v\n%s", err, out)
	return "", -1
}

func readFuncYAML(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// kn func loads the repository's func.yaml and finds nothing wrong with it.
func TestFuncYAMLPassesKnFunc(t *testing.T) {
	out, code := checkFuncYAML(t, readFuncYAML(t))
	if code != 0 {
		t.Fatalf("kn func rejects func.yaml (exit %d):\n%s", code, out)
	}
	t.Log(strings.TrimSpace(out))
}

// The check bites: each edit below makes kn func reject func.yaml, and the
// output names the check that did.
func TestFuncYAMLKnFuncRefuses(t *testing.T) {
	orig := string(readFuncYAML(t))
	for _, tc := range []struct{ name, old, new, want string }{
		// kn func's loader and f.Validate().
		{"bad env name", "- name: KEPTN_API_TOKEN", "- name: 9KEPTN", "validate:"},
		{"env reference of an unknown kind", "{{ secret:keptn-api-token:token }}", "{{ vault:keptn-api-token:token }}", "validate:"},
		{"whole-ConfigMap env with a key", "{{ configMap:job-executor-config }}", "{{ configMap:job-executor-config:settings }}", "validate:"},
		{"bad label key", "- key: app.kubernetes.io/part-of", "- key: app.kubernetes.io/part of", "validate:"},
		{"bad label value", "value: cluster-local", "value: cluster local", "validate:"},
		{"negative min scale", "min: 0", "min: -1", "validate:"},
		{"max scale below min", "max: 5", "max: -5", "validate:"},
		{"unknown scale metric", "metric: concurrency", "metric: latency", "validate:"},
		{"memory not a quantity", "memory: 64Mi", "memory: 64 megabytes", "validate:"},
		// What deploy needs of a loaded function.
		{"created not a date-time", "created: 2025-11-05T00:00:00Z", "created: yesterday", "initialized:"},
		{"name not a DNS label", "name: job-executor", "name: Job_Executor", "name:"},
		{"unknown runtime", "runtime: go", "runtime: cobol", "runtime:"},
		{"unknown invoke", "invoke: cloudevent", "invoke: grpc", "invoke:"},
		{"image not a reference", "image: ghcr.io/keptn-sandbox/", "image: ghcr.io/Keptn-Sandbox/", "image:"},
		// func.yaml as this kn func writes it: its newest spec version.
		{"old specVersion", "specVersion: 0.36.0", "specVersion: 0.34.0", "specVersion:"},
		// Strict decoding into kn func's Function type.
		{"flat pre-0.35 envs", "run:\n  envs:", "envs:", "decode"},
		{"misspelt key", "healthEndpoints:", "healthEndpoint:", "decode"},
		// Knative Eventing's validation of the Triggers kn func creates.
		{"subscription without a Broker", "- source: keptn\n", "- source: ''\n", "deploy.subscriptions[0]"},
		{"subscription filter not a CloudEvents attribute", "      type: sh.keptn.event.test.triggered", "      ce-type: sh.keptn.event.test.triggered", "deploy.subscriptions[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(orig, tc.old) {
				t.Fatalf("func.yaml has no %q", tc.old)
			}
			out, code := checkFuncYAML(t, []byte(strings.Replace(orig, tc.old, tc.new, 1)))
			if code != 1 {
				t.Fatalf("exit %d, want 1 (rejected):\n%s", code, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not name %q:\n%s", tc.want, out)
			}
			t.Log(strings.TrimSpace(out))
		})
	}
}

// funcYAML is the part of kn func's Function type these checks compare.
type funcYAML struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Image     string `json:"image"`
	Invoke    string `json:"invoke"`
	Run       struct {
		Envs []struct{ Name, Value string } `json:"envs"`
	} `json:"run"`
	Deploy struct {
		Namespace          string `json:"namespace"`
		ServiceAccountName string `json:"serviceAccountName"`
		HealthEndpoints    struct{ Liveness, Readiness string }
		Options            struct {
			Scale struct {
				Min, Max *int64
			} `json:"scale"`
			Resources struct {
				Requests map[string]json.RawMessage `json:"requests"`
				Limits   map[string]json.RawMessage `json:"limits"`
			} `json:"resources"`
		} `json:"options"`
		Subscriptions []struct {
			Source  string            `json:"source"`
			Filters map[string]string `json:"filters"`
		} `json:"subscriptions"`
	} `json:"deploy"`
}

func quantity(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// kn func deploy must produce the Service that config/knative ships.
func TestFuncYAMLAgreesWithTheManifests(t *testing.T) {
	var fn funcYAML
	if err := yaml.Unmarshal(readFuncYAML(t), &fn); err != nil {
		t.Fatal(err)
	}
	objs := build(t, knativeDir(t))
	svc := find[*servingv1.Service](t, objs, fnKey)
	spec := svc.Spec.Template.Spec
	c := spec.Containers[0]
	ann := svc.Spec.Template.Annotations
	eq := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: func.yaml %q, manifests %q", what, got, want)
		}
	}
	eq("name", fn.Name, svc.Name)
	eq("namespace", fn.Namespace, svc.Namespace)
	eq("deploy.namespace", fn.Deploy.Namespace, svc.Namespace)
	eq("image", fn.Image, c.Image)
	eq("invoke", fn.Invoke, "cloudevent")
	eq("serviceAccountName", fn.Deploy.ServiceAccountName, spec.ServiceAccountName)
	eq("liveness", fn.Deploy.HealthEndpoints.Liveness, c.LivenessProbe.HTTPGet.Path)
	eq("readiness", fn.Deploy.HealthEndpoints.Readiness, c.ReadinessProbe.HTTPGet.Path)
	sc := fn.Deploy.Options.Scale
	if sc.Min == nil || sc.Max == nil {
		t.Fatal("func.yaml must set scale min and max")
	}
	eq("scale.min", strconv.FormatInt(*sc.Min, 10), ann["autoscaling.knative.dev/min-scale"])
	eq("scale.max", strconv.FormatInt(*sc.Max, 10), ann["autoscaling.knative.dev/max-scale"])
	res := fn.Deploy.Options.Resources
	eq("concurrency", string(res.Limits["concurrency"]), strconv.FormatInt(*spec.ContainerConcurrency, 10))
	for name, q := range res.Requests {
		eq("requests."+name, quantity(q), quantityOf(c.Resources.Requests, name))
	}
	for name, q := range res.Limits {
		if name != "concurrency" {
			eq("limits."+name, quantity(q), quantityOf(c.Resources.Limits, name))
		}
	}
	// Env: the token from the same Secret/key, the settings from the same
	// ConfigMap, in kn func's {{ kind:name[:key] }} syntax.
	want := map[string]string{}
	for _, e := range c.Env {
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			want[e.Name] = "{{ secret:" + r.Name + ":" + r.Key + " }}"
		}
	}
	for _, e := range c.EnvFrom {
		want[""] = "{{ configMap:" + e.ConfigMapRef.Name + " }}"
	}
	got := map[string]string{}
	for _, e := range fn.Run.Envs {
		got[e.Name] = e.Value
	}
	for k, v := range want {
		eq("env "+k, got[k], v)
	}
	if len(got) != len(want) {
		t.Errorf("func.yaml envs %v, manifests %v", got, want)
	}
}

func quantityOf(l corev1.ResourceList, name string) string {
	q, ok := l[corev1.ResourceName(name)]
	if !ok {
		return "(unset)"
	}
	return q.String()
}

// func's exact-match Triggers must deliver only what the shipped Trigger
// delivers, on the shipped Broker.
func TestFuncYAMLSubscriptionsAreTaskEvents(t *testing.T) {
	var fn funcYAML
	if err := yaml.Unmarshal(readFuncYAML(t), &fn); err != nil {
		t.Fatal(err)
	}
	if len(fn.Deploy.Subscriptions) == 0 {
		t.Fatal("func.yaml subscribes to nothing")
	}
	objs := build(t, knativeDir(t))
	broker := find[*eventingv1.Broker](t, objs, "Broker keptn-job-executor/keptn")
	shipped := subscriptionsapi.CreateSubscriptionsAPIFilters(zap.NewNop(), find[*eventingv1.Trigger](t, objs, triggerKey).Spec.Filters)
	ctx := context.Background()
	for _, s := range fn.Deploy.Subscriptions {
		if s.Source != broker.Name {
			t.Errorf("subscription on %q, the Broker is %q", s.Source, broker.Name)
		}
		typ := s.Filters["type"]
		if len(s.Filters) != 1 || typ == "" {
			t.Errorf("subscription filters %v: want exactly one type", s.Filters)
			continue
		}
		if r := attributes.NewAttributesFilter(s.Filters).Filter(ctx, event(typ)); r != eventfilter.PassFilter {
			t.Errorf("%s: func's Trigger says %s", typ, r)
		}
		if r := shipped.Filter(ctx, event(typ)); r != eventfilter.PassFilter {
			t.Errorf("%s: not a task event by the shipped Trigger (%s)", typ, r)
		}
	}
}
