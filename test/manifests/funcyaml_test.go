package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/attributes"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// funcSchema compiles kn func's published schema (draft-04), asserting
// formats such as created's date-time.
func funcSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	path := repoPath(t, "..", "shared", "reference", "knative", "func_yaml-schema.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("kn func schema: %v", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("file:///func_yaml-schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("file:///func_yaml-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// funcYAMLInstance reads YAML as the JSON value the schema validates.
func funcYAMLInstance(t testing.TB, data []byte) any {
	t.Helper()
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readFuncYAML(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFuncYAMLMatchesSchema(t *testing.T) {
	if err := funcSchema(t).Validate(funcYAMLInstance(t, readFuncYAML(t))); err != nil {
		t.Fatalf("func.yaml: %v", err)
	}
}

// The schema check bites: each edit below makes func.yaml invalid.
func TestFuncYAMLSchemaRefuses(t *testing.T) {
	s := funcSchema(t)
	orig := string(readFuncYAML(t))
	for _, tc := range []struct{ name, old, new string }{
		{"unknown invoke", "invoke: cloudevent", "invoke: grpc"},
		{"negative min scale", "min: 0", "min: -1"},
		{"created not a date-time", "created: 2025-11-05T00:00:00Z", "created: yesterday"},
		{"flat pre-0.35 envs", "run:\n  envs:", "envs:"},
		{"bad env name", "- name: KEPTN_API_TOKEN", "- name: 9KEPTN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(orig, tc.old) {
				t.Fatalf("func.yaml has no %q", tc.old)
			}
			bad := strings.Replace(orig, tc.old, tc.new, 1)
			if err := s.Validate(funcYAMLInstance(t, []byte(bad))); err == nil {
				t.Fatal("schema accepted it")
			}
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
