package reporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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

// A pod event's Job has its pods listed from the API server's watch cache,
// no older than the Job just read; when that cache does not show the
// hinted pod ended yet, a consistent list decides. Either way the report
// is the same.
func TestHintedPodsAreListedFromTheWatchCache(t *testing.T) {
	ended := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	for _, tt := range []struct {
		name      string
		cacheLags bool
		want      []metav1.ListOptions
	}{
		{name: "cache shows the end", want: []metav1.ListOptions{
			{ResourceVersion: "42", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
		}},
		{name: "cache lags", cacheLags: true, want: []metav1.ListOptions{
			{ResourceVersion: "42", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
			{},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			job := verdicttest.NewJob()
			job.ResourceVersion = "42"
			b := newBed(job, ended)
			var got []metav1.ListOptions
			b.kube.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				opts := a.(k8stesting.ListActionImpl).ListOptions
				got = append(got, metav1.ListOptions{ResourceVersion: opts.ResourceVersion, ResourceVersionMatch: opts.ResourceVersionMatch})
				if tt.cacheLags && opts.ResourceVersion != "" {
					running := ended.DeepCopy()
					running.Status.Phase = corev1.PodRunning
					return true, &corev1.PodList{Items: []corev1.Pod{*running}}, nil
				}
				return false, nil, nil
			})
			require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, ended, "Pod")))
			assert.Equal(t, tt.want, got)
			assert.Equal(t, "succeeded", b.sink.finished(t)["status"])
		})
	}
}
