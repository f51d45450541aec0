package verdict

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// Why the Job controller fails a Job whose only pod failed, as it writes
// the condition (pkg/controller/job: newFailureCondition).
const (
	backoffLimitReason  = batchv1.JobReasonBackoffLimitExceeded
	backoffLimitMessage = "Job has reached the specified backoff limit"
)

// DecidedByPod reports whether job's outcome is its one pod's outcome: one
// pod (no parallelism, one completion, not indexed), never retried
// (backoffLimit 0, restartPolicy Never) and no policy that could ignore or
// reinterpret a failure or a success. Then a terminal pod decides as the
// Job controller will, about a second before it writes the condition (it
// batches pod updates for a second).
//
// One exception remains: a Job whose deadline passes before the Job
// controller looks at the ended pod is marked DeadlineExceeded, even if its
// pod ended well before. So a report taken early removes the deadline in
// the same write as its claim (Early): the controller can then only
// confirm it, and a write that conflicts with the controller's re-reads.
func DecidedByPod(job *batchv1.Job) bool {
	s := job.Spec
	one := func(p *int32) bool { return p == nil || *p == 1 }
	return s.BackoffLimit != nil && *s.BackoffLimit == 0 &&
		s.Template.Spec.RestartPolicy == corev1.RestartPolicyNever &&
		s.PodFailurePolicy == nil && s.SuccessPolicy == nil && s.BackoffLimitPerIndex == nil &&
		one(s.Parallelism) && one(s.Completions) &&
		(s.CompletionMode == nil || *s.CompletionMode == batchv1.NonIndexedCompletion) &&
		(s.Suspend == nil || !*s.Suspend) && s.ManagedBy == nil
}

// early is the verdict of a Job whose pod has ended but whose condition is
// not written yet: the verdict the condition will give (the Job controller
// counts a failed pod before the deadline, and a succeeded one completes a
// one-pod Job). A pod being deleted was killed by the Job controller (its
// deadline) or by someone else: its condition decides.
func early(job *batchv1.Job, pods []corev1.Pod, now time.Time) (Verdict, *corev1.Pod, bool) {
	if !DecidedByPod(job) {
		return Verdict{}, nil, false
	}
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		at := metav1.NewTime(podEnd(pod, now))
		var v Verdict
		switch pod.Status.Phase {
		case corev1.PodSucceeded:
			v = succeeded(job, pod, &batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: at})
		case corev1.PodFailed:
			v = failed(job, pod, &batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
				Reason: backoffLimitReason, Message: backoffLimitMessage, LastTransitionTime: at})
		default:
			continue
		}
		v.Early = true
		return v, pod, true
	}
	return Verdict{}, nil, false
}

// podEnd is when pod's last container ended, or now when no container
// says.
func podEnd(pod *corev1.Pod, now time.Time) time.Time {
	var end time.Time
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, st := range list {
			if t := st.State.Terminated; t != nil && t.FinishedAt.After(end) {
				end = t.FinishedAt.Time
			}
		}
	}
	if end.IsZero() {
		return now
	}
	return end
}

// Decided reports whether job's outcome is recorded on it: a terminal
// condition (or its forerunner) or a stop record.
func Decided(job *batchv1.Job) bool {
	return terminalCondition(job) != nil || job.Annotations[jobs.AnnotationStopped] != ""
}

// Ended reports whether pod reached a terminal phase by itself (not being
// deleted): for a Job DecidedByPod, the signal to evaluate it now rather
// than wait for the Job controller's condition.
func Ended(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && (pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed)
}
