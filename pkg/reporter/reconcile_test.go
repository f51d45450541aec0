package reporter

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

func failedJob() *batchv1.Job {
	return verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonBackoffLimitExceeded, verdicttest.T0.Add(time.Minute)))
}

func failedPod() *corev1.Pod {
	return podObj(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 3, "Error", "boom"))
}

func TestReconcileReportsFailureWithExitCodeAndLog(t *testing.T) {
	ctx := context.Background()
	b := newBed(failedJob(), failedPod())
	b.logs.logs[verdicttest.PodName+"/"+verdicttest.C0] = "starting\nboom: database unreachable\n"
	r := b.reconciler(t, "replica-a")

	out, err := r.Reconcile(ctx, failedJob())
	require.NoError(t, err)
	assert.Equal(t, Outcome{Reported: true}, out)

	require.Equal(t, []string{"sh.keptn.event.deployment.finished"}, b.sink.types())
	ev := b.sink.events[0]
	assert.Equal(t, ResponseID(failedJob(), keptn.KindFinished), ev.ID(), "the id is stable across attempts")
	assert.Equal(t, "ctx-1", ev.Extensions()[keptn.ExtContext])
	assert.Equal(t, "trig-1", ev.Extensions()[keptn.ExtTriggeredID])
	assert.Equal(t, "job-executor-knative", ev.Source())
	data := b.sink.finished(t)
	assert.Equal(t, "errored", data["status"])
	assert.Equal(t, "fail", data["result"])
	assert.Equal(t, "p", data["project"])
	msg := data["message"].(string)
	assert.Contains(t, msg, `task "greet" [task-0-greet]: exit code 3, Error`)
	assert.Contains(t, msg, "--- log of task \"greet\" [task-0-greet] ---\nstarting\nboom: database unreachable\n")

	job := getJob(t, b.kube)
	assert.NotEmpty(t, job.Annotations[jobs.AnnotationReported])
	assert.NotContains(t, job.Annotations, jobs.AnnotationReportClaim)

	out, err = r.Reconcile(ctx, job)
	require.NoError(t, err)
	assert.Equal(t, Outcome{}, out)
	out, err = r.Reconcile(ctx, failedJob())
	require.NoError(t, err, "a stale copy from a late event")
	assert.Equal(t, Outcome{}, out)
	assert.Len(t, b.sink.types(), 1, "reported once")
}

func TestReconcileLeavesRunningJobsAlone(t *testing.T) {
	b := newBed(verdicttest.NewJob(), podObj(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0)))
	out, err := b.reconciler(t, "a").Reconcile(context.Background(), verdicttest.NewJob())
	require.NoError(t, err)
	assert.Equal(t, Outcome{}, out)
	assert.Empty(t, b.sink.types())
	assert.Zero(t, jobWrites(b.kube))
}

func TestReconcileSkipsSilentForeignAndBrokenJobs(t *testing.T) {
	silent := failedJob()
	silent.Annotations[jobs.AnnotationSilent] = "true"
	foreign := failedJob()
	foreign.Labels[jobs.LabelManagedBy] = "someone-else"
	b := newBed(failedPod())
	r := b.reconciler(t, "a")
	for _, j := range []*batchv1.Job{silent, foreign} {
		out, err := r.Reconcile(context.Background(), j)
		require.NoError(t, err)
		assert.Equal(t, Outcome{}, out)
	}
	broken := failedJob()
	broken.Annotations[jobs.AnnotationOrigin] = "{not json"
	_, err := r.Reconcile(context.Background(), broken)
	require.ErrorIs(t, err, ErrBadJob)
	assert.True(t, permanent.Is(err), "a broken annotation does not heal")
	assert.Empty(t, b.sink.types())
}

func TestExactlyOneFinishedAcrossConcurrentReplicas(t *testing.T) {
	b := newBed(failedJob(), failedPod())
	replicas := []*Reconciler{b.reconciler(t, "replica-a"), b.reconciler(t, "replica-b")}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every delivery carries the same, soon stale, Job.
			_, err := replicas[i%2].Reconcile(context.Background(), failedJob())
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, []string{"sh.keptn.event.deployment.finished"}, b.sink.types())
}

func TestBusyWhileAnotherReplicaSends(t *testing.T) {
	b := newBed(failedJob(), failedPod())
	entered, release := make(chan struct{}), make(chan struct{})
	b.sink.entered, b.sink.release = entered, release
	a, other := b.reconciler(t, "replica-a"), b.reconciler(t, "replica-b")
	done := make(chan Outcome)
	go func() {
		out, err := a.Reconcile(context.Background(), failedJob())
		assert.NoError(t, err)
		done <- out
	}()
	<-entered // a holds the claim and is sending

	out, err := other.Reconcile(context.Background(), failedJob())
	require.NoError(t, err, "another replica sending is not an error on the watch path")
	assert.Equal(t, Outcome{Busy: true}, out)

	close(release)
	assert.Equal(t, Outcome{Reported: true}, <-done)
	assert.Len(t, b.sink.types(), 1)
}

func TestSendFailureReleasesTheClaimAndTheSweepRetries(t *testing.T) {
	ctx := context.Background()
	b := newBed(failedJob(), failedPod())
	b.sink.fail = 1
	r := b.reconciler(t, "a")

	_, err := r.Reconcile(ctx, failedJob())
	require.Error(t, err)
	assert.False(t, permanent.Is(err), "Keptn down: answer 5xx")
	job := getJob(t, b.kube)
	assert.NotContains(t, job.Annotations, jobs.AnnotationReportClaim, "released at once, not after the claim expires")
	assert.NotContains(t, job.Annotations, jobs.AnnotationReported)

	st, err := r.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Scanned)
	assert.Equal(t, 1, st.Reported)
	assert.Zero(t, st.Errors)
	assert.Equal(t, []string{"sh.keptn.event.deployment.finished"}, b.sink.types())

	st, err = r.Sweep(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Reported, "nothing left to do")
	assert.Len(t, b.sink.types(), 1)
}

func TestSweepSendsAMissingStarted(t *testing.T) {
	crashed := func(opts ...verdicttest.JobOpt) *batchv1.Job {
		// The creator wrote its claim and died before sending .started.
		return verdicttest.NewJob(append([]verdicttest.JobOpt{verdicttest.WithoutAnnotation(jobs.AnnotationStarted),
			verdicttest.WithAnnotation(jobs.AnnotationStartClaim, claim.Value("creator/1", verdicttest.T0.Add(time.Minute)))}, opts...)...)
	}
	t.Run("running job", func(t *testing.T) {
		b := newBed(crashed(), podObj(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0)))
		st, err := b.reconciler(t, "a").Sweep(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 1, st.Started)
		assert.Equal(t, []string{"sh.keptn.event.deployment.started"}, b.sink.types())
		assert.NotEmpty(t, getJob(t, b.kube).Annotations[jobs.AnnotationStarted])
	})
	t.Run("ended job gets both, in order", func(t *testing.T) {
		b := newBed(crashed(verdicttest.FailedWith(batchv1.JobReasonBackoffLimitExceeded, verdicttest.T0.Add(time.Minute))), failedPod())
		st, err := b.reconciler(t, "a").Sweep(context.Background())
		require.NoError(t, err)
		assert.Equal(t, SweepStats{Scanned: 1, Started: 1, Reported: 1, Duration: st.Duration}, st)
		assert.Equal(t, []string{"sh.keptn.event.deployment.started", "sh.keptn.event.deployment.finished"}, b.sink.types())
	})
	t.Run("creator still sending", func(t *testing.T) {
		b := newBed(crashed(), failedPod())
		b.clock.Set(verdicttest.T0.Add(30 * time.Second))
		st, err := b.reconciler(t, "a").Sweep(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 1, st.Busy)
		assert.Empty(t, b.sink.types())
	})
}

func TestSweepDeletesReportedRecordJobsPastTheirTTL(t *testing.T) {
	now := verdicttest.T0.Add(7 * time.Hour)
	record := func(name, reported string) *batchv1.Job {
		j := verdicttest.NewJob(verdicttest.WithoutAnnotation(jobs.AnnotationTasks), verdicttest.WithAnnotation(jobs.AnnotationInvalid, "invalid job config:\nbad"))
		j.Name = name
		j.Spec.Suspend = new(bool)
		*j.Spec.Suspend = true
		if reported != "" {
			j.Annotations[jobs.AnnotationReported] = reported
		}
		return j
	}
	old := record("old", verdicttest.T0.Format(time.RFC3339Nano))
	recent := record("recent", now.Add(-time.Hour).Format(time.RFC3339Nano))
	unreported := record("unreported", "")
	finishedLongAgo := verdicttest.NewJob(verdicttest.Complete(verdicttest.T0), verdicttest.WithAnnotation(jobs.AnnotationReported, verdicttest.T0.Format(time.RFC3339Nano)))
	b := newBed(old, recent, unreported, finishedLongAgo)
	b.clock.Set(now)

	st, err := b.reconciler(t, "a").Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 4, st.Scanned)
	assert.Equal(t, 1, st.Deleted)
	assert.Equal(t, 1, st.Reported, "a record whose creator crashed before .finished is reported")

	list, err := b.kube.BatchV1().Jobs(verdicttest.Ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Name)
	}
	assert.ElementsMatch(t, []string{"recent", "unreported", verdicttest.JobName}, names, "the TTL controller removes finished Jobs; only suspended records are ours to delete")
	data := b.sink.finished(t)
	assert.Equal(t, "invalid job config:\nbad", data["message"])
	assert.Equal(t, "errored", data["status"])
}

func TestFailFastStopsTheJobAndReports(t *testing.T) {
	ctx := context.Background()
	stuckPod := podObj(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer), verdicttest.Waiting(verdicttest.C0, "ImagePullBackOff", `Back-off pulling image "nope:1"`))
	b := newBed(verdicttest.NewJob(), stuckPod)
	b.logs.logs[verdicttest.PodName+"/"+jobs.FetcherContainer] = "fetched 1 files\n"
	r := b.reconciler(t, "a")

	out, err := r.Reconcile(ctx, verdicttest.NewJob())
	require.NoError(t, err)
	assert.Equal(t, Outcome{Stopped: true, Reported: true}, out)

	job := getJob(t, b.kube)
	require.NotNil(t, job.Spec.ActiveDeadlineSeconds)
	assert.Equal(t, int64(1), *job.Spec.ActiveDeadlineSeconds, "the Job controller kills the pod and fails the Job, so its TTL applies")
	assert.Nil(t, job.Spec.Suspend)
	var rec struct{ Reason string }
	require.NoError(t, json.Unmarshal([]byte(job.Annotations[jobs.AnnotationStopped]), &rec))
	assert.Equal(t, "ImagePullBackOff", rec.Reason)
	assert.NotEmpty(t, job.Annotations[jobs.AnnotationReported])

	data := b.sink.finished(t)
	assert.Equal(t, "errored", data["status"])
	assert.Contains(t, data["message"], `task "greet" cannot start: ImagePullBackOff: Back-off pulling image "nope:1". The Job was stopped.`)
}

func TestAStoppedJobReportsTheSameReasonAfterAFailedSend(t *testing.T) {
	ctx := context.Background()
	stuckPod := podObj(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer), verdicttest.Waiting(verdicttest.C0, "CreateContainerConfigError", `secret "db" not found`))
	b := newBed(verdicttest.NewJob(), stuckPod)
	b.sink.fail = 1
	r := b.reconciler(t, "a")

	out, err := r.Reconcile(ctx, verdicttest.NewJob())
	require.Error(t, err)
	assert.True(t, out.Stopped)
	job := getJob(t, b.kube)
	assert.NotEmpty(t, job.Annotations[jobs.AnnotationStopped])
	assert.NotContains(t, job.Annotations, jobs.AnnotationReportClaim)

	// The stop takes effect: the Job fails on its (now 1 s) deadline.
	setJobStatus(t, b.kube, verdicttest.FailedWith(batchv1.JobReasonDeadlineExceeded, verdicttest.T0.Add(3*time.Minute)))
	b.clock.Set(verdicttest.T0.Add(4 * time.Minute))
	st, err := r.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Reported)
	msg := b.sink.finished(t)["message"].(string)
	assert.Contains(t, msg, `CreateContainerConfigError: secret "db" not found`)
	assert.NotContains(t, msg, "deadline")
}

func TestReconcileKeepsAHugeLogUnderKeptnsLimit(t *testing.T) {
	b := newBed(failedJob(), failedPod())
	b.logs.logs[verdicttest.PodName+"/"+verdicttest.C0] = verdicttest.NoisyLog(40000) + "FATAL: the real reason\n"
	r := b.reconciler(t, "a")
	_, err := r.Reconcile(context.Background(), failedJob())
	require.NoError(t, err)
	require.Len(t, b.sink.events, 1)
	body, err := sink.KeptnBody(b.sink.events[0])
	require.NoError(t, err)
	assert.LessOrEqual(t, len(body), finished.KeptnMaxEventBytes)
	msg := b.sink.finished(t)["message"].(string)
	assert.Contains(t, msg, "bytes cut ...]")
	assert.True(t, strings.HasSuffix(msg, "FATAL: the real reason\n"))
}
