package reporter

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"
)

// signallingLogs tells when the first log read began.
type signallingLogs struct {
	LogReader
	once    sync.Once
	started chan struct{}
}

func (s *signallingLogs) Stream(ctx context.Context, ns, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	s.once.Do(func() { close(s.started) })
	return s.LogReader.Stream(ctx, ns, pod, opts)
}

// The logs are read while the claim is written, not after it: the claim's
// write sees the log read already begun.
func TestLogsAreReadBesideTheClaim(t *testing.T) {
	pod := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	b := newBed(verdicttest.NewJob(), pod)
	b.logs.logs[pod.Name+"/"+verdicttest.C0] = "hello from the task\n"
	logs := &signallingLogs{LogReader: b.logs, started: make(chan struct{})}
	beside := false
	b.kube.PrependReactor("update", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case <-logs.started:
			beside = true
		case <-time.After(5 * time.Second):
		}
		return false, nil, nil
	})
	r := b.reconciler(t, "a")
	r.Logs = logs
	require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, pod, "Pod")))
	assert.True(t, beside, "the claim was written before the log read began")
	assert.Contains(t, b.sink.finished(t)["message"], "hello from the task")
}

// blockingLogs holds every log read until its context is cancelled.
type blockingLogs struct {
	mu        sync.Mutex
	cancelled int
}

func (s *blockingLogs) Stream(ctx context.Context, _, _ string, _ *corev1.PodLogOptions) (io.ReadCloser, error) {
	<-ctx.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelled++
	return nil, ctx.Err()
}

// A claim another attempt holds stops a report before it reads logs when
// the Job read shows it; when the claim was taken after the Job was read,
// the log read begun beside the claim's write is cancelled (a read that
// was not would hold the report for ever here). Either way nothing is sent.
func TestAClaimOfAnotherAttemptReadsNoLogs(t *testing.T) {
	for _, tt := range []struct {
		name string
		// takenAfterRead: the first Job GET answers the Job as it was
		// before the claim.
		takenAfterRead bool
	}{
		{name: "claimed before the read"},
		{name: "claimed after the read", takenAfterRead: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
			job := verdicttest.NewJob()
			before := job.DeepCopy()
			job.Annotations[FinishedKeys.Claim] = claim.Value("other/1", verdicttest.T0.Add(time.Hour))
			job.ResourceVersion = "2"
			b := newBed(job, pod)
			first := tt.takenAfterRead
			b.kube.PrependReactor("get", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
				if first {
					first = false
					return true, before, nil
				}
				return false, nil, nil
			})
			logs := &blockingLogs{}
			r := b.reconciler(t, "a")
			r.Logs = logs
			out, err := r.PodChanged(context.Background(), pod)
			require.NoError(t, err)
			assert.True(t, out.Busy)
			if tt.takenAfterRead {
				assert.Positive(t, logs.cancelled, "the log read begun beside the claim was cancelled")
			} else {
				assert.Zero(t, logs.cancelled, "no log read was begun")
				assert.Zero(t, jobWrites(b.kube), "no claim was tried")
			}
			assert.Equal(t, job.Annotations[FinishedKeys.Claim], getJob(t, b.kube).Annotations[FinishedKeys.Claim], "the other attempt's claim stands")
			assert.Empty(t, b.sink.types())
		})
	}
}
