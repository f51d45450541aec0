package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
	"github.com/keptn-sandbox/job-executor-knative/test/eventsink"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// traceLog records the traceparent header of each event POSTed to Keptn,
// by event type and triggeredid.
type traceLog struct {
	mu   sync.Mutex
	seen map[string]string
}

func (l *traceLog) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/v1/event") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var ev struct{ Type, Triggeredid string }
			_ = json.Unmarshal(body, &ev)
			l.mu.Lock()
			l.seen[ev.Type+" "+ev.Triggeredid] = r.Header.Get("traceparent")
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (l *traceLog) get(typ, triggeredID string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tp, ok := l.seen[typ+" "+triggeredID]
	return tp, ok
}

// waitFinished waits for the .finished of triggered event id at the
// stand-in.
func (w *world) waitFinished(t *testing.T, id string) keptnstandin.Event {
	t.Helper()
	ev, err := w.keptn.WaitFor(ctxFor(t, 2*time.Minute), func(e keptnstandin.Event) bool {
		return e.Type == keptn.TaskType(task, keptn.KindFinished) && e.Triggeredid == id
	})
	require.NoError(t, err)
	return ev
}

// jobEvents waits until the Kubernetes Events on Job name include every
// reason of want, and returns them by reason.
func (w *world) jobEvents(t *testing.T, name string, want ...string) map[string]eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		list, err := w.kube.EventsV1().Events(w.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "regarding.name=" + name})
		require.NoError(t, err)
		got := map[string]eventsv1.Event{}
		for _, e := range list.Items {
			got[e.Reason] = e
		}
		missing := false
		for _, r := range want {
			if _, ok := got[r]; !ok {
				missing = true
			}
		}
		if !missing || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logLines are the function's JSON log lines.
func logLines(t *testing.T, p *process) []map[string]any {
	t.Helper()
	f, err := os.Open(p.logPath)
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			out = append(out, line)
		}
	}
	return out
}

// A triggered event handled end to end leaves its trace everywhere an
// operator looks: metrics, Kubernetes Events on the Job, log lines that
// name it, and its trace context in the responses Keptn receives.
func TestObservabilityOfATriggeredEvent(t *testing.T) {
	traces := &traceLog{seen: map[string]string{}}
	w := newWorld(t, "alpine:3.20", withKeptnFront(traces.front))
	fnBin, _ := binaries(t)
	fn := startProcess(t, fnBin, w.functionEnv("observed"), true)
	fn.waitReady(t)
	tr := newTracker(t, w)
	client := httpClient(1)
	ctx := ctxFor(t, 3*time.Minute)

	ce := w.triggered()
	status, err := post(ctx, client, fn.url, ce)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)
	malformed := w.triggered()
	require.NoError(t, malformed.SetData(event.ApplicationJSON, map[string]any{"project": "no stage or service"}))
	status, _ = post(ctx, client, fn.url, malformed)
	require.Equal(t, http.StatusBadRequest, status)
	other := w.triggered()
	other.SetType("sh.keptn.event.deployment.finished")
	status, err = post(ctx, client, fn.url, other)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)

	require.Zero(t, tr.waitFor(ctx, []string{ce.ID()}, ended), "the Job never ended")
	job, _ := tr.get(ce.ID())
	sweep(t, ctx, client, fn) // reports the ended Job: no adapter here
	w.waitFinished(t, ce.ID())

	t.Run("metrics move", func(t *testing.T) {
		ss, err := telemetrytest.Fetch(fn.metrics)
		require.NoError(t, err)
		checks := []struct {
			name   string
			labels []string
			want   float64
		}{
			{telemetry.MetricEvents, []string{"type", ce.Type(), "outcome", "created"}, 1},
			{telemetry.MetricEvents, []string{"type", ce.Type(), "outcome", "malformed"}, 1},
			{telemetry.MetricEvents, []string{"type", other.Type(), "outcome", "ignored"}, 1},
			{telemetry.MetricEvents, []string{"type", "dev.knative.sources.ping", "outcome", "handled"}, 1},
			{telemetry.MetricJobsCreated, []string{"kind", "task"}, 1},
			{telemetry.MetricReports, []string{"kind", "started"}, 1},
			{telemetry.MetricReports, []string{"kind", "finished", "status", "succeeded", "result", "pass"}, 1},
			{telemetry.MetricReportLatency + "_count", nil, 1},
			{telemetry.MetricSweepDuration + "_count", nil, 1},
			{telemetry.MetricKubeRequests, []string{"verb", "create", "resource", "jobs.batch", "code", "201"}, 1},
			{telemetry.MetricClaimConflicts, nil, 0},
		}
		for _, c := range checks {
			assert.Equal(t, c.want, ss.Sum(c.name, c.labels...), "%s %v", c.name, c.labels)
		}
	})

	t.Run("Kubernetes Events on the Job", func(t *testing.T) {
		got := w.jobEvents(t, job.Name, telemetry.ReasonCreated, telemetry.ReasonFinishedSent)
		for _, r := range []string{telemetry.ReasonCreated, telemetry.ReasonFinishedSent} {
			e, ok := got[r]
			if !assert.True(t, ok, "no %s Event on Job %s; got %v", r, job.Name, got) {
				continue
			}
			assert.Equal(t, corev1.EventTypeNormal, e.Type, r)
			assert.Equal(t, "Job", e.Regarding.Kind, r)
			assert.Equal(t, telemetry.ReportingController, e.ReportingController, r)
		}
		assert.Contains(t, got[telemetry.ReasonCreated].Note, ce.ID())
		assert.Equal(t, "Sent sh.keptn.event.test.finished: status succeeded, result pass", got[telemetry.ReasonFinishedSent].Note)
	})

	t.Run("traceparent reaches Keptn", func(t *testing.T) {
		want := ce.Extensions()["traceparent"]
		for _, kind := range []string{keptn.KindStarted, keptn.KindFinished} {
			tp, ok := traces.get(keptn.TaskType(task, kind), ce.ID())
			assert.True(t, ok, "no .%s posted", kind)
			assert.Equal(t, want, tp, ".%s", kind)
		}
	})

	t.Run("log lines name the event", func(t *testing.T) {
		var ofEvent, reported []map[string]any
		for _, l := range logLines(t, fn) {
			if l["event_id"] == ce.ID() {
				ofEvent = append(ofEvent, l)
			}
			if l["msg"] == "reported job" {
				reported = append(reported, l)
			}
		}
		require.NotEmpty(t, ofEvent)
		msgs := map[string]bool{}
		for _, l := range ofEvent {
			msgs[l["msg"].(string)] = true
			assert.Equal(t, ce.Extensions()[keptn.ExtContext], l["shkeptncontext"], "%v", l)
			if l["msg"] == "created job" {
				assert.Equal(t, w.ns+"/"+job.Name, l["job"], "%v", l)
			}
		}
		assert.True(t, msgs["created job"] && msgs["handled triggered event"], "lines of the event: %v", msgs)
		require.Len(t, reported, 1)
		assert.Equal(t, ce.ID(), reported[0]["triggered_id"])
		assert.Equal(t, ce.Extensions()[keptn.ExtContext], reported[0]["shkeptncontext"])
		assert.Equal(t, w.ns+"/"+job.Name, reported[0]["job"])
	})
}

// A Job that can never run is stopped, and both the stop and the failed
// report are Kubernetes Events on it (warnings).
func TestStoppedJobEvents(t *testing.T) {
	w := newWorld(t, testbed.ImagePullBackOff)
	fnBin, _ := binaries(t)
	fn := startProcess(t, fnBin, w.functionEnv("observed"), true)
	fn.waitReady(t)
	tr := newTracker(t, w)
	client := httpClient(1)
	ctx := ctxFor(t, 3*time.Minute)
	ce := w.triggered()
	_, err := post(ctx, client, fn.url, ce)
	require.NoError(t, err)
	require.Zero(t, tr.waitFor(ctx, []string{ce.ID()}, added))
	job, _ := tr.get(ce.ID())
	w.waitPodWaiting(t, job.Name, "ImagePullBackOff")
	sweep(t, ctx, client, fn)
	w.waitFinished(t, ce.ID())

	got := w.jobEvents(t, job.Name, telemetry.ReasonStopped, telemetry.ReasonFinishedSent)
	require.Contains(t, got, telemetry.ReasonStopped)
	assert.Equal(t, corev1.EventTypeWarning, got[telemetry.ReasonStopped].Type)
	assert.True(t, strings.HasPrefix(got[telemetry.ReasonStopped].Note, "ImagePullBackOff: "), got[telemetry.ReasonStopped].Note)
	require.Contains(t, got, telemetry.ReasonFinishedSent)
	assert.Equal(t, corev1.EventTypeWarning, got[telemetry.ReasonFinishedSent].Type)
	ss, err := telemetrytest.Fetch(fn.metrics)
	require.NoError(t, err)
	assert.Equal(t, 1.0, ss.Sum(telemetry.MetricReports, "kind", "finished", "status", "errored", "result", "fail"))
}

// waitPodWaiting waits until a container of the Job's pod waits for reason.
func (w *world) waitPodWaiting(t *testing.T, jobName, reason string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		pods, err := w.kube.CoreV1().Pods(w.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + jobName})
		require.NoError(t, err)
		for _, p := range pods.Items {
			for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				if s.State.Waiting != nil && s.State.Waiting.Reason == reason {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no container of Job %s waited for %s", jobName, reason)
}

// With a CloudEvents sink (K_SINK) instead of Keptn's API, the trace
// context travels as the traceparent extension of .started.
func TestTraceParentThroughACloudEventsSink(t *testing.T) {
	w := newWorld(t, "alpine:3.20")
	sink := eventsink.New(t)
	env := w.functionEnv("traced")
	env["K_SINK"] = sink.URL()
	fnBin, _ := binaries(t)
	fn := startProcess(t, fnBin, env, true)
	fn.waitReady(t)
	ce := w.triggered()
	ce.SetExtension("traceparent", "00-"+strings.ReplaceAll(uuid.NewString(), "-", "")+"-00f067aa0ba902b7-01")
	_, err := post(ctxFor(t, time.Minute), httpClient(1), fn.url, ce)
	require.NoError(t, err)
	started, err := sink.WaitFor(ctxFor(t, time.Minute), func(e event.Event) bool {
		return e.Type() == keptn.TaskType(task, keptn.KindStarted)
	})
	require.NoError(t, err)
	assert.Equal(t, ce.Extensions()["traceparent"], started.Extensions()["traceparent"])
	assert.Equal(t, ce.ID(), started.Extensions()[keptn.ExtTriggeredID])
}
