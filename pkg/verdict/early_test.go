package verdict

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"
)

// The condition the Job controller writes for a one-pod Job whose pod
// ended, as pkg/controller/job words it.
func controllerCondition(pod corev1.Pod, at time.Time) verdicttest.JobOpt {
	if pod.Status.Phase == corev1.PodSucceeded {
		return verdicttest.Complete(at)
	}
	return verdicttest.WithCondition(batchv1.JobFailed, backoffLimitReason, backoffLimitMessage, at)
}

// TestEarlyVerdictEqualsTheCondition: for every way a pod ends, the
// verdict from the pod alone is the verdict from the condition that
// follows (status, result, message and structured results; only
// data.test.end may differ: the pod's end, not the condition's time).
// e2e TestEarlyVerdictMatchesTheJobController checks the same against the
// real Job controller.
func TestEarlyVerdictEqualsTheCondition(t *testing.T) {
	end := verdicttest.T0.Add(time.Minute)
	warn := verdicttest.WithTasks(jobs.TaskRef{Name: "greet", Container: verdicttest.C0, OnError: "warn"}, jobs.TaskRef{Name: "post", Container: verdicttest.C1})
	tests := []struct {
		name string
		job  *batchv1.Job
		pod  corev1.Pod
	}{
		{name: "succeeded", job: verdicttest.NewJob(), pod: verdicttest.SucceededPod()},
		{name: "succeeded with a structured result", job: verdicttest.NewJob(),
			pod: verdicttest.SucceededPod(verdicttest.Terminated(verdicttest.C0, 0, "Completed", `{"result":"warning","sli":{"p95":230}}`))},
		{name: "a task failed", job: verdicttest.NewJob(), pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 3, "Error", "boom"))},
		{name: "the last task failed", job: verdicttest.NewJob(), pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.Terminated(verdicttest.C1, 1, "Error", ""))},
		{name: "onError warn", job: verdicttest.NewJob(warn), pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 1, "Error", ""))},
		{name: "the fetcher failed", job: verdicttest.NewJob(), pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.Terminated(jobs.FetcherContainer, 3, "Error", "not found"))},
		{name: "OOMKilled", job: verdicttest.NewJob(), pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 137, "OOMKilled", ""))},
		{name: "evicted", job: verdicttest.NewJob(), pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.PodReason("Evicted", "The node was low on resource: memory."),
			verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0))},
		{name: "failed without exit codes", job: verdicttest.NewJob(), pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed))},
		{name: "a test task", job: verdicttest.NewJob(verdicttest.WithOriginTask("test")), pod: verdicttest.SucceededPod()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods := []corev1.Pod{tt.pod}
			early := Evaluate(tt.job, pods, end, EvalOptions{})
			require.True(t, early.Terminal)
			assert.True(t, early.Early)
			confirmed := Evaluate(verdicttest.NewJob(append(jobOpts(tt.job), controllerCondition(tt.pod, end))...), pods, end.Add(time.Second), EvalOptions{})
			require.True(t, confirmed.Terminal)
			assert.False(t, confirmed.Early)
			assert.Equal(t, withoutTestTimes(confirmed.Finished), withoutTestTimes(early.Finished))
			assert.Equal(t, confirmed.Lines, early.Lines)
			assert.Equal(t, confirmed.Pod, early.Pod)
		})
	}
}

// TestNoEarlyVerdict: where the pod does not decide, the condition does
// (deadline: the Job controller kills the pod, which is then being
// deleted; a fail-fast stop is recorded on the Job).
func TestNoEarlyVerdict(t *testing.T) {
	now := verdicttest.T0.Add(time.Minute)
	killed := func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} }
	failed := verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 3, "Error", ""))
	tests := []struct {
		name string
		job  *batchv1.Job
		pod  corev1.Pod
		want string // the summary's kind, "" when nothing is due
	}{
		{name: "running", job: verdicttest.NewJob(), pod: verdicttest.NewPod(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0))},
		{name: "killed at its deadline", job: verdicttest.NewJob(), pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 137, "Error", ""), killed)},
		{name: "deadline condition", job: verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonDeadlineExceeded, now)),
			pod: verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 137, "Error", ""), killed), want: "DeadlineExceeded"},
		{name: "stopped (fail fast), pod ended since", job: verdicttest.NewJob(verdicttest.WithAnnotation(jobs.AnnotationStopped, `{"reason":"ImagePullBackOff","summary":"Job x failed: cannot start"}`)), pod: failed, want: "cannot start"},
		{name: "backoff limit 1", job: verdicttest.NewJob(func(j *batchv1.Job) { j.Spec.BackoffLimit = new(int32(1)) }), pod: failed},
		{name: "suspended", job: verdicttest.NewJob(func(j *batchv1.Job) { j.Spec.Suspend = new(true) }), pod: failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Evaluate(tt.job, []corev1.Pod{tt.pod}, now, EvalOptions{})
			assert.False(t, v.Early)
			assert.Equal(t, tt.want != "", v.Terminal)
			if tt.want != "" {
				assert.Contains(t, v.Summary, tt.want)
			}
		})
	}
}

// jobOpts rebuilds job's differences from verdicttest.NewJob.
func jobOpts(job *batchv1.Job) []verdicttest.JobOpt {
	return []verdicttest.JobOpt{func(j *batchv1.Job) { j.Annotations = job.Annotations; j.Spec = job.Spec }}
}

func withoutTestTimes(f keptn.Finished) keptn.Finished {
	test, ok := f.Extra["test"].(map[string]any)
	if !ok {
		return f
	}
	cp := map[string]any{}
	for k, v := range test {
		if k != "end" {
			cp[k] = v
		}
	}
	extra := map[string]any{}
	for k, v := range f.Extra {
		extra[k] = v
	}
	extra["test"] = cp
	f.Extra = extra
	return f
}
