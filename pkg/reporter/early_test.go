package reporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"
)

// deleting marks a pod the Job controller is killing.
func deleting(p *corev1.Pod) {
	now := metav1.NewTime(verdicttest.T0.Add(time.Minute))
	p.DeletionTimestamp = &now
}

func TestEndedPodReportsBeforeTheCondition(t *testing.T) {
	tests := []struct {
		name    string
		pod     *corev1.Pod
		status  string
		message string
	}{
		{name: "failed", pod: failedPod(), status: "errored", message: `task "greet" failed with exit code 3 (Error)`},
		{name: "succeeded", pod: podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1)), status: "succeeded", message: "succeeded."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(verdicttest.NewJob(), tt.pod)
			require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, tt.pod, "Pod")))
			data := b.sink.finished(t)
			assert.Equal(t, tt.status, data["status"])
			assert.Contains(t, data["message"], tt.message)
			job := getJob(t, b.kube)
			assert.Nil(t, job.Spec.ActiveDeadlineSeconds, "the claim removed the deadline: the Job controller can only confirm")
			assert.NotEmpty(t, job.Annotations[jobs.AnnotationReported])
		})
	}
}

// The Job controller writes DeadlineExceeded between our read and our
// claim: the claim conflicts, and the condition, not the pod, decides.
func TestEarlyVerdictYieldsToAConditionWrittenMeanwhile(t *testing.T) {
	pod := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	b := newBed(verdicttest.NewJob(), pod)
	raced := false
	b.kube.PrependReactor("update", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !raced {
			raced = true
			setJobStatus(t, b.kube, verdicttest.FailedWith(batchv1.JobReasonDeadlineExceeded, verdicttest.T0.Add(time.Minute)))
		}
		return false, nil, nil
	})
	require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, pod, "Pod")))
	data := b.sink.finished(t)
	assert.Equal(t, "errored", data["status"])
	assert.Contains(t, data["message"], "DeadlineExceeded")
	assert.Len(t, b.sink.types(), 1)
}

func TestNoEarlyVerdictForJobsAPodCannotDecide(t *testing.T) {
	pod := failedPod()
	for name, mutate := range map[string]func(*batchv1.Job){
		"retried":        func(j *batchv1.Job) { j.Spec.BackoffLimit = new(int32(1)) },
		"restarted":      func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure },
		"failure policy": func(j *batchv1.Job) { j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{} },
		"parallel":       func(j *batchv1.Job) { j.Spec.Parallelism = new(int32(2)) },
	} {
		t.Run(name, func(t *testing.T) {
			b := newBed(verdicttest.NewJob(mutate), pod)
			require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, pod, "Pod")))
			assert.Empty(t, b.sink.types())
		})
	}
}

// A pod event's pods are listed from the API server's watch cache, no
// older than the event's pod (the API server that sent it has it); when
// that cache does not show the hinted pod ended, or refuses the version (a
// forged one), a consistent list decides. Either way the report is the
// same.
func TestHintedPodsAreListedFromTheWatchCache(t *testing.T) {
	ended := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	ended.ResourceVersion = "57"
	cached := metav1.ListOptions{ResourceVersion: "57", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}
	for _, tt := range []struct {
		name  string
		cache func() (runtime.Object, error)
		want  []metav1.ListOptions
	}{
		{name: "cache shows the end", want: []metav1.ListOptions{cached}},
		{name: "cache lags", cache: func() (runtime.Object, error) {
			running := ended.DeepCopy()
			running.Status.Phase = corev1.PodRunning
			return &corev1.PodList{Items: []corev1.Pod{*running}}, nil
		}, want: []metav1.ListOptions{cached, {}}},
		{name: "version refused", cache: func() (runtime.Object, error) {
			return nil, apierrors.NewTimeoutError("Too large resource version", 1)
		}, want: []metav1.ListOptions{cached, {}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			job := verdicttest.NewJob()
			job.ResourceVersion = "42"
			b := newBed(job, ended)
			var got []metav1.ListOptions
			b.kube.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				opts := a.(k8stesting.ListActionImpl).ListOptions
				got = append(got, metav1.ListOptions{ResourceVersion: opts.ResourceVersion, ResourceVersionMatch: opts.ResourceVersionMatch})
				if tt.cache != nil && opts.ResourceVersion != "" {
					obj, err := tt.cache()
					return true, obj, err
				}
				return false, nil, nil
			})
			require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, ended, "Pod")))
			assert.Equal(t, tt.want, got)
			assert.Equal(t, "succeeded", b.sink.finished(t)["status"])
		})
	}
}

// listSignal tells when a pod list has begun.
type listSignal struct {
	PodAPI
	begun chan struct{}
}

func (s listSignal) List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	select {
	case s.begun <- struct{}{}:
	default:
	}
	return s.PodAPI.List(ctx, opts)
}

// getAfter answers a Job GET once a pod list has begun, or after 5 s.
type getAfter struct {
	JobAPI
	begun  chan struct{}
	beside *bool
}

func (g getAfter) Get(ctx context.Context, name string, opts metav1.GetOptions) (*batchv1.Job, error) {
	select {
	case <-g.begun:
		*g.beside = true
	case <-time.After(5 * time.Second):
	}
	return g.JobAPI.Get(ctx, name, opts)
}

// A pod event reads its Job and the Job's pods at once: the Job GET sees
// the pod list already begun.
func TestAPodEventReadsItsJobAndPodsAtOnce(t *testing.T) {
	pod := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	b := newBed(verdicttest.NewJob(), pod)
	r := b.reconciler(t, "a")
	begun, beside, gets := make(chan struct{}, 1), false, 0
	pods, jobsOf := r.Pods, r.Jobs
	r.Pods = func(ns string) PodAPI { return listSignal{PodAPI: pods(ns), begun: begun} }
	r.Jobs = func(ns string) JobAPI {
		if gets++; gets == 1 {
			return getAfter{JobAPI: jobsOf(ns), begun: begun, beside: &beside}
		}
		return jobsOf(ns)
	}
	out, err := r.PodChanged(context.Background(), pod)
	require.NoError(t, err)
	assert.True(t, beside, "the Job was read before the pod list began")
	assert.True(t, out.Reported)
	assert.Equal(t, "succeeded", b.sink.finished(t)["status"])
}

// Pods are listed by the Job's name; only those the Job read controls
// count. An ended pod of an earlier Job of that name decides nothing for
// the live one.
func TestAPodOfAnotherJobOfTheSameNameDecidesNothing(t *testing.T) {
	stale := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	stale.OwnerReferences[0].UID = "an-earlier-job"
	b := newBed(verdicttest.NewJob(), stale)
	out, err := b.reconciler(t, "a").PodChanged(context.Background(), stale)
	require.NoError(t, err)
	assert.False(t, out.Reported)
	assert.Empty(t, b.sink.types())
}

// A pod event whose Job name label is no label value (here it would widen
// the pod list's selector) makes no API call.
func TestAPodEventWithABadJobNameReadsNothing(t *testing.T) {
	pod := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	pod.Labels[batchv1.JobNameLabel] = verdicttest.JobName + ",app=other"
	b := newBed(verdicttest.NewJob(), pod)
	out, err := b.reconciler(t, "a").PodChanged(context.Background(), pod)
	require.NoError(t, err)
	assert.Equal(t, Outcome{}, out)
	assert.Empty(t, b.kube.Actions())
}
