package reporter

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"

	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/logctx"
)

// seen records what an Observer was told, as "kind detail" lines.
type seen struct {
	mu    sync.Mutex
	calls []string
}

func (s *seen) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, v)
}

func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *seen) Sent(_ context.Context, job *batchv1.Job, ev event.Event) {
	s.add("sent " + ev.Type() + " " + job.Name)
}
func (s *seen) Busy(_ context.Context, job *batchv1.Job, claim string) {
	s.add("busy " + claim + " " + job.Name)
}
func (s *seen) Stopped(_ context.Context, job *batchv1.Job, reason, summary string) {
	s.add("stopped " + reason + " " + job.Name)
}

func TestObserverHearsSentAndBusy(t *testing.T) {
	b := newBed(failedJob(), failedPod())
	entered, release := make(chan struct{}), make(chan struct{})
	b.sink.entered, b.sink.release = entered, release
	a, other := b.reconciler(t, "replica-a"), b.reconciler(t, "replica-b")
	obsA, obsOther := &seen{}, &seen{}
	a.Sender.Observer, other.Sender.Observer = obsA, obsOther
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := a.Reconcile(context.Background(), failedJob())
		assert.NoError(t, err)
	}()
	<-entered
	_, err := other.Reconcile(context.Background(), failedJob())
	require.NoError(t, err)
	close(release)
	<-done

	assert.Equal(t, []string{"sent sh.keptn.event.deployment.finished " + verdicttest.JobName}, obsA.list())
	assert.Equal(t, []string{"busy " + jobs.AnnotationReportClaim + " " + verdicttest.JobName}, obsOther.list())
}

func TestObserverHearsTheStopBeforeTheReport(t *testing.T) {
	stuckPod := podObj(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer), verdicttest.Waiting(verdicttest.C0, "ImagePullBackOff", `Back-off pulling image "nope:1"`))
	b := newBed(verdicttest.NewJob(), stuckPod)
	r := b.reconciler(t, "a")
	obs := &seen{}
	r.Sender.Observer = obs
	_, err := r.Reconcile(context.Background(), verdicttest.NewJob())
	require.NoError(t, err)
	assert.Equal(t, []string{
		"stopped ImagePullBackOff " + verdicttest.JobName,
		"sent sh.keptn.event.deployment.finished " + verdicttest.JobName,
	}, obs.list())
}

func TestObserverHearsAStartedFromTheSweep(t *testing.T) {
	job := verdicttest.NewJob(verdicttest.WithoutAnnotation(jobs.AnnotationStarted))
	b := newBed(job, podObj(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0)))
	r := b.reconciler(t, "a")
	obs := &seen{}
	r.Sender.Observer = obs
	_, err := r.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"sent sh.keptn.event.deployment.started " + verdicttest.JobName}, obs.list())
}

func TestReconcileLogLinesNameTheJobAndItsEvent(t *testing.T) {
	var buf bytes.Buffer
	b := newBed(failedJob(), failedPod())
	r := b.reconciler(t, "a")
	r.Config.Log = slog.New(logctx.NewHandler(slog.NewJSONHandler(&buf, nil)))
	_, err := r.Reconcile(context.Background(), failedJob())
	require.NoError(t, err)
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line), buf.String())
	assert.Equal(t, "reported job", line["msg"])
	assert.Equal(t, verdicttest.Ns+"/"+verdicttest.JobName, line["job"])
	assert.Equal(t, "ctx-1", line["shkeptncontext"])
	assert.Equal(t, "trig-1", line["triggered_id"])
}
