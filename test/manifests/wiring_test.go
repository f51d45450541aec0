package manifests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

const (
	fnKey      = "Service keptn-job-executor/job-executor"
	triggerKey = "Trigger keptn-job-executor/job-executor-keptn-tasks"
	configKey  = "ConfigMap keptn-job-executor/job-executor-config"
)

func event(typ string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID("1")
	e.SetSource("test")
	e.SetType(typ)
	return e
}

// Which event types reach the function, by the broker's own filter code.
var taskEvents = []struct {
	typ  string
	pass bool
}{
	{"sh.keptn.event.test.triggered", true},
	{"sh.keptn.event.remote-task.triggered", true},
	// A sequence-level event: delivered, and ignored unless configured.
	{"sh.keptn.event.dev.delivery.triggered", true},
	{"sh.keptn.event.test.started", false},
	{"sh.keptn.event.test.finished", false},
	{"sh.keptn.events.problem", false},
	{"sh.keptn.event.triggered.test", false},
	{"dev.knative.sources.ping", false},
	{"dev.knative.apiserver.resource.update", false},
}

func TestTriggerFilterSelectsTaskEvents(t *testing.T) {
	tr := find[*eventingv1.Trigger](t, build(t, knativeDir(t)), triggerKey)
	if tr.Spec.Filter != nil {
		t.Fatal("spec.filter is set; `filters` overrides it and it would mislead readers")
	}
	f := subscriptionsapi.CreateSubscriptionsAPIFilters(zap.NewNop(), tr.Spec.Filters)
	for _, tc := range taskEvents {
		got := f.Filter(context.Background(), event(tc.typ))
		if (got == eventfilter.PassFilter) != tc.pass {
			t.Errorf("%s: %s, want pass=%v", tc.typ, got, tc.pass)
		}
	}
}

func sinkIsFunction(t *testing.T, what string, d duckv1.Destination) {
	t.Helper()
	r := d.Ref
	if r == nil || r.Kind != "Service" || r.APIVersion != "serving.knative.dev/v1" || r.Name != "job-executor" || d.URI != nil {
		t.Errorf("%s goes to %+v, want the function's Knative Service", what, d)
	}
}

func TestEventsReachTheFunctionAndFailuresTheDeadLetterSink(t *testing.T) {
	objs := build(t, knativeDir(t))
	tr := find[*eventingv1.Trigger](t, objs, triggerKey)
	br := find[*eventingv1.Broker](t, objs, "Broker keptn-job-executor/keptn")
	if tr.Spec.Broker != br.Name {
		t.Errorf("Trigger listens on Broker %q, the Broker is %q", tr.Spec.Broker, br.Name)
	}
	sinkIsFunction(t, "Trigger", tr.Spec.Subscriber)
	sinkIsFunction(t, "ApiServerSource", find[*sourcesv1.ApiServerSource](t, objs, "ApiServerSource keptn-job-executor/job-executor-jobs").Spec.Sink)
	sinkIsFunction(t, "PingSource", find[*sourcesv1.PingSource](t, objs, "PingSource keptn-job-executor/job-executor-sweep").Spec.Sink)
	del := tr.Spec.Delivery
	if del == nil || del.Retry == nil || *del.Retry < 1 || del.BackoffPolicy == nil || *del.BackoffPolicy != "exponential" ||
		del.BackoffDelay == nil || del.DeadLetterSink == nil {
		t.Fatalf("Trigger delivery %+v: want retries, exponential backoff and a dead-letter sink", del)
	}
	// The Broker's delivery covers kn func's Triggers, which have none.
	if br.Spec.Delivery == nil || br.Spec.Delivery.DeadLetterSink == nil || br.Spec.Delivery.Retry == nil {
		t.Fatalf("Broker delivery %+v: want retries and a dead-letter sink", br.Spec.Delivery)
	}
	for _, dls := range []*duckv1.Destination{tr.Spec.Delivery.DeadLetterSink, br.Spec.Delivery.DeadLetterSink} {
		find[*servingv1.Service](t, objs, "Service keptn-job-executor/"+dls.Ref.Name)
	}
}

func TestApiServerSourceWatchesOurJobs(t *testing.T) {
	objs := build(t, knativeDir(t))
	src := find[*sourcesv1.ApiServerSource](t, objs, "ApiServerSource keptn-job-executor/job-executor-jobs")
	cfg := find[*corev1.ConfigMap](t, objs, configKey).Data
	if src.Spec.EventMode != sourcesv1.ResourceMode {
		t.Errorf("mode %q, want Resource: the function reads the Job from the event", src.Spec.EventMode)
	}
	// Jobs, and their pods: a pod stuck in ImagePullBackOff does not change
	// its Job, and the function fails such a Job fast from the pod's event.
	var kinds []string
	for _, r := range src.Spec.Resources {
		kinds = append(kinds, r.APIVersion+" "+r.Kind)
		sel := r.LabelSelector
		ours := labels.Set{jobs.LabelManagedBy: cfg["JOB_MANAGED_BY"]}
		if sel == nil || sel.MatchLabels[jobs.LabelManagedBy] != cfg["JOB_MANAGED_BY"] || len(sel.MatchLabels) != 1 || len(sel.MatchExpressions) != 0 {
			t.Errorf("%s selector %+v, want exactly %v", r.Kind, sel, ours)
		}
	}
	if fmt.Sprint(kinds) != "[batch/v1 Job v1 Pod]" {
		t.Fatalf("resources %v, want batch/v1 Job and v1 Pod", kinds)
	}
	// Every job namespace is watched, and the function may act in each.
	nsSel, err := metav1.LabelSelectorAsSelector(src.Spec.NamespaceSelector)
	if src.Spec.NamespaceSelector == nil || err != nil || nsSel.Empty() {
		t.Fatalf("namespaceSelector %+v (%v): want the job namespaces; unset means only the source's own, empty means all", src.Spec.NamespaceSelector, err)
	}
	jobNamespaces := strings.Split(cfg["JOB_NAMESPACES"], ",")
	if !slices.Contains(jobNamespaces, cfg["JOB_NAMESPACE"]) {
		t.Errorf("JOB_NAMESPACES %q lacks JOB_NAMESPACE %q", cfg["JOB_NAMESPACES"], cfg["JOB_NAMESPACE"])
	}
	g := effectiveGrants(t, objs)
	for _, ns := range jobNamespaces {
		if !nsSel.Matches(labels.Set{corev1.LabelMetadataName: ns}) {
			t.Errorf("the ApiServerSource does not watch job namespace %s", ns)
		}
		if !g.allowed("keptn-job-executor/job-executor", ns, "create", "batch/jobs") {
			t.Errorf("the function may not create Jobs in job namespace %s", ns)
		}
	}
	if nsSel.Matches(labels.Set{corev1.LabelMetadataName: src.Namespace}) {
		t.Errorf("the ApiServerSource watches its own namespace %s", src.Namespace)
	}
	find[*corev1.ServiceAccount](t, objs, "ServiceAccount "+src.Namespace+"/"+src.Spec.ServiceAccountName)
	if src.Spec.ServiceAccountName == find[*servingv1.Service](t, objs, fnKey).Spec.Template.Spec.ServiceAccountName {
		t.Error("the source shares the function's ServiceAccount; it must only read Jobs")
	}
}

// The PingSource ships on the idle schedule the function sets back, and
// the armed schedule ticks every minute (ping-only latency).
func TestPingSourceShipsIdle(t *testing.T) {
	objs := build(t, knativeDir(t))
	ps := find[*sourcesv1.PingSource](t, objs, "PingSource keptn-job-executor/job-executor-sweep")
	cfg := find[*corev1.ConfigMap](t, objs, configKey).Data
	if got := cfg["SWEEP_PINGSOURCE"]; got != ps.Namespace+"/"+ps.Name {
		t.Errorf("SWEEP_PINGSOURCE %q, want the shipped PingSource %s/%s", got, ps.Namespace, ps.Name)
	}
	if ps.Spec.Schedule != cfg["SWEEP_IDLE_SCHEDULE"] {
		t.Errorf("PingSource schedule %q, want SWEEP_IDLE_SCHEDULE %q", ps.Spec.Schedule, cfg["SWEEP_IDLE_SCHEDULE"])
	}
	parser := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	t0 := time.Date(2025, 1, 1, 10, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		key  string
		want time.Duration
	}{{"SWEEP_SCHEDULE", time.Minute}, {"SWEEP_IDLE_SCHEDULE", time.Hour}} {
		sched, err := parser.Parse(cfg[tc.key])
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		for i, at := 0, sched.Next(t0); i < 3; i++ {
			next := sched.Next(at)
			if next.Sub(at) != tc.want {
				t.Fatalf("%s ticks at %s then %s, want every %s", tc.key, at, next, tc.want)
			}
			at = next
		}
	}
}

// The ConfigMap sets only variables the function reads, and none that
// Knative reserves or that must come from a Secret.
func TestConfigMapHoldsFunctionSettings(t *testing.T) {
	cfg := find[*corev1.ConfigMap](t, build(t, knativeDir(t)), configKey).Data
	known := map[string]bool{}
	for _, v := range function.Env {
		known[v.Name] = true
	}
	for k := range cfg {
		if !known[k] {
			t.Errorf("%s is not a variable the function reads (function/env.go)", k)
		}
	}
	for _, k := range []string{"KEPTN_API_TOKEN", "PORT", "KUBECONFIG"} {
		if _, ok := cfg[k]; ok {
			t.Errorf("%s must not be in the ConfigMap", k)
		}
	}
	for _, k := range []string{"JOB_NAMESPACE", "JOB_NAMESPACES", "JOB_SERVICE_ACCOUNT", "JOB_MANAGED_BY", "FETCHER_IMAGE", "KEPTN_API_URL", "KEPTN_API_TOKEN_SECRET"} {
		if cfg[k] == "" {
			t.Errorf("%s is not set", k)
		}
	}
}

func TestFunctionServiceShape(t *testing.T) {
	objs := build(t, knativeDir(t))
	svc := find[*servingv1.Service](t, objs, fnKey)
	cfg := find[*corev1.ConfigMap](t, objs, configKey)
	ann := svc.Spec.Template.Annotations
	if ann["autoscaling.knative.dev/min-scale"] != "0" || ann["autoscaling.knative.dev/max-scale"] == "" {
		t.Errorf("scale annotations %v: want min-scale 0 and a max-scale", ann)
	}
	spec := svc.Spec.Template.Spec
	if spec.ContainerConcurrency == nil || *spec.ContainerConcurrency == 0 || spec.TimeoutSeconds == nil {
		t.Error("containerConcurrency and timeoutSeconds must be set")
	}
	find[*corev1.ServiceAccount](t, objs, "ServiceAccount "+svc.Namespace+"/"+spec.ServiceAccountName)
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/health/readiness" ||
		c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/health/liveness" {
		t.Error("probes must be on /health/readiness and /health/liveness")
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cfg.Name {
		t.Errorf("envFrom %+v, want the ConfigMap %s", c.EnvFrom, cfg.Name)
	}
	// The token comes from the same Secret/key the fetcher is pointed at.
	want := cfg.Data["KEPTN_API_TOKEN_SECRET"]
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "KEPTN_API_TOKEN" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil ||
		c.Env[i].ValueFrom.SecretKeyRef.Name+"/"+c.Env[i].ValueFrom.SecretKeyRef.Key != want {
		t.Errorf("KEPTN_API_TOKEN must come from secretKeyRef %s", want)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("securityContext %+v is not Pod Security \"restricted\"", sc)
	}
	if svc.Labels["networking.knative.dev/visibility"] != "cluster-local" {
		t.Error("the function must not be exposed outside the cluster")
	}
}
