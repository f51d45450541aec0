package telemetry

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

func testJob(annotations map[string]string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Name: "j1", Namespace: "ns", UID: "uid-1", Annotations: annotations,
	}}
}

func responseEvent(t *testing.T, typ string, data map[string]any) event.Event {
	ev := event.New()
	ev.SetID("r1")
	ev.SetSource("test")
	ev.SetType(typ)
	require.NoError(t, ev.SetData(event.ApplicationJSON, data))
	return ev
}

// waitEvents waits for n Kubernetes Events in ns: the broadcaster writes
// them in the background.
func waitEvents(t *testing.T, kube *fake.Clientset, n int) []eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := kube.EventsV1().Events("ns").List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		if len(list.Items) >= n || time.Now().After(deadline) {
			return list.Items
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestObserverRecordsTransitions(t *testing.T) {
	kube := fake.NewClientset()
	m, err := NewMetrics()
	require.NoError(t, err)
	ev, err := NewJobEvents(kube, m)
	require.NoError(t, err)
	defer ev.Shutdown()
	now := time.Date(2026, 1, 1, 12, 0, 2, 500_000_000, time.UTC)
	o := &Observer{Metrics: m, Events: ev, Now: func() time.Time { return now }}
	ctx := context.Background()

	job := testJob(map[string]string{
		jobs.AnnotationEventType: "sh.keptn.event.test.triggered",
		jobs.AnnotationEventID:   "e1",
		jobs.AnnotationOrigin:    `{"shkeptncontext":"ctx-1"}`,
	})
	o.Created(ctx, job)
	o.Sent(ctx, job, responseEvent(t, "sh.keptn.event.test.started", map[string]any{"status": "succeeded"}))
	done := job.DeepCopy()
	done.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))},
		{Type: batchv1.JobFailureTarget, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Second).Truncate(time.Second))},
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-2 * time.Second).Truncate(time.Second))},
	}
	o.Sent(ctx, done, responseEvent(t, "sh.keptn.event.test.finished", map[string]any{"status": "succeeded", "result": "pass"}))
	o.Stopped(ctx, job, "ImagePullBackOff", "Job j1 failed: task 1 cannot start")
	o.Busy(ctx, job, jobs.AnnotationReportClaim)

	got := waitEvents(t, kube, 3)
	require.Len(t, got, 3, "no Event for .started: the Job's annotation records it")
	byReason := map[string]eventsv1.Event{}
	for _, e := range got {
		byReason[e.Reason] = e
		assert.Equal(t, "j1", e.Regarding.Name)
		assert.Equal(t, "Job", e.Regarding.Kind)
		assert.Equal(t, ReportingController, e.ReportingController)
	}
	assert.Equal(t, "Created for sh.keptn.event.test.triggered (Keptn context ctx-1, event e1)", byReason[ReasonCreated].Note)
	assert.Equal(t, corev1.EventTypeNormal, byReason[ReasonCreated].Type)
	assert.Equal(t, "Sent sh.keptn.event.test.finished: status succeeded, result pass", byReason[ReasonFinishedSent].Note)
	assert.Equal(t, corev1.EventTypeNormal, byReason[ReasonFinishedSent].Type)
	assert.Equal(t, "ImagePullBackOff: Job j1 failed: task 1 cannot start", byReason[ReasonStopped].Note)
	assert.Equal(t, corev1.EventTypeWarning, byReason[ReasonStopped].Type)

	ss := scrape(t, m)
	assert.Equal(t, float64(1), ss.Sum(MetricJobsCreated, "kind", "task"))
	assert.Equal(t, float64(1), ss.Sum(MetricReports, "kind", "started"))
	assert.Equal(t, float64(1), ss.Sum(MetricReports, "kind", "finished", "status", "succeeded", "result", "pass"))
	assert.Equal(t, float64(1), ss.Sum(MetricReportLatency+"_count"))
	assert.InDelta(t, 2.5, ss.Sum(MetricReportLatency+"_sum"), 1e-9, "from the earliest true terminal condition (SuccessCriteriaMet)")
	assert.Equal(t, float64(1), ss.Sum(MetricClaimConflicts, "claim", "report-claim"))
}

func TestObserverRecordJobAndFailedReport(t *testing.T) {
	kube := fake.NewClientset()
	m, err := NewMetrics()
	require.NoError(t, err)
	ev, err := NewJobEvents(kube, m)
	require.NoError(t, err)
	defer ev.Shutdown()
	o := &Observer{Metrics: m, Events: ev}
	ctx := context.Background()
	job := testJob(map[string]string{jobs.AnnotationInvalid: "task 1: image refused by policy"})
	o.Created(ctx, job)
	o.Sent(ctx, job, responseEvent(t, "sh.keptn.event.test.finished", map[string]any{"status": "errored", "result": "fail"}))

	got := waitEvents(t, kube, 2)
	require.Len(t, got, 2)
	for _, e := range got {
		assert.Equal(t, corev1.EventTypeWarning, e.Type, e.Reason)
		if e.Reason == ReasonCreated {
			assert.Equal(t, "Recorded an action that cannot run, to report it to Keptn: task 1: image refused by policy", e.Note)
		}
	}
	ss := scrape(t, m)
	assert.Equal(t, float64(1), ss.Sum(MetricJobsCreated, "kind", "record"))
	assert.Equal(t, float64(0), ss.Sum(MetricReportLatency+"_count"), "a Job without a terminal condition has no latency")
}

func TestObserverWithoutParts(t *testing.T) {
	o := &Observer{}
	ctx := context.Background()
	job := testJob(nil)
	o.Created(ctx, job)
	o.Sent(ctx, job, responseEvent(t, "sh.keptn.event.test.finished", map[string]any{}))
	o.Stopped(ctx, job, "r", "s")
	o.Busy(ctx, job, "c")
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456…"},
		{"ééééé", 8, "éé…"}, // é is 2 bytes, … is 3: no split sequence
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.n)
		assert.Equal(t, tt.want, got, tt.in)
		assert.LessOrEqual(t, len(got), tt.n)
		assert.True(t, utf8.ValidString(got))
	}
	long := strings.Repeat("x", 5000)
	assert.Len(t, truncate(long, maxNote), maxNote)
}

func TestKubeEventsBeyondTheQueueAreDroppedAndCounted(t *testing.T) {
	kube := fake.NewClientset()
	m, err := NewMetrics()
	require.NoError(t, err)
	// A limiter that never grants: the first Event waits in drain, two
	// fill the queue, the rest are dropped.
	ev, err := newJobEvents(kube, m, blockingLimiter{}, 2)
	require.NoError(t, err)
	defer ev.Shutdown()
	job := testJob(nil)
	ev.Record(job, corev1.EventTypeNormal, ReasonCreated, "Create", "first")
	deadline := time.Now().Add(10 * time.Second)
	for len(ev.queue) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // until drain took the first
	}
	for range 5 {
		ev.Record(job, corev1.EventTypeNormal, ReasonFinishedSent, "SendFinished", "more")
	}
	ss := scrape(t, m)
	assert.Equal(t, float64(3), ss.Sum(MetricEventsDropped, "reason", ReasonFinishedSent))
	assert.Equal(t, float64(2), ss.Sum(MetricEventsQueued))
	list, err := kube.EventsV1().Events("ns").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, list.Items, "nothing is written while the limiter holds")
}

func TestShutdownIsIdempotent(t *testing.T) {
	ev, err := NewJobEvents(fake.NewClientset(), nil)
	require.NoError(t, err)
	ev.Shutdown()
	ev.Shutdown()
	ev.Record(testJob(nil), corev1.EventTypeNormal, ReasonCreated, "Create", "after shutdown: queued, never written")
	var none *JobEvents
	none.Shutdown()
	none.Record(testJob(nil), corev1.EventTypeNormal, ReasonCreated, "Create", "nothing")
}

// blockingLimiter grants nothing until its caller gives up.
type blockingLimiter struct{}

func (blockingLimiter) TryAccept() bool { return false }
func (blockingLimiter) Accept()         { select {} }
func (blockingLimiter) Stop()           {}
func (blockingLimiter) QPS() float32    { return 0 }
func (blockingLimiter) Wait(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}
