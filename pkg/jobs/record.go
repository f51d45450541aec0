package jobs

import (
	"time"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// maxInvalidMessage keeps the annotation, and the .finished message made
// from it, well inside Keptn's 64 KB event limit.
const maxInvalidMessage = 16 << 10

// truncate keeps message within maxInvalidMessage, on a rune boundary.
func truncate(message string) string {
	if len(message) <= maxInvalidMessage {
		return message
	}
	message = message[:maxInvalidMessage]
	for !utf8.ValidString(message) {
		message = message[:len(message)-1]
	}
	return message + "\n[truncated]"
}

// Record returns a suspended Job that never runs. It stands for an action
// that matched the event but cannot run (its config is invalid): its only
// purpose is that the error's .started and .finished go out exactly once,
// through the same claims as a real run, and that a redelivered event finds
// it and does nothing.
func Record(ev *keptn.TaskEvent, actionIndex int, actionName, message string, s Settings) (*batchv1.Job, error) {
	meta, err := jobMeta(ev, actionIndex, actionName, s.Namespace, s)
	if err != nil {
		return nil, err
	}
	meta.Annotations[AnnotationInvalid] = truncate(message)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			Suspend:      ptr.To(true),
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelManagedBy: s.ManagedBy}},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					ServiceAccountName:           s.ServiceAccount,
					SecurityContext:              podSecurityContext(s),
					Containers: []corev1.Container{{
						Name:            "invalid-config",
						Image:           s.FetcherImage,
						Args:            []string{"--help"},
						SecurityContext: restrictedContext(),
					}},
				},
			},
		},
	}, nil
}

// Waiting returns the placeholder Job of an action that must wait (its
// image's registry or the API server could not answer). It is a suspended
// record under the action's own Job name and namespace, so a concurrent
// delivery that can build the real Job meets it as AlreadyExists; its
// .started goes out at once, and it never sends .finished
// (AnnotationWaiting). since is when the wait began: the event's time.
func Waiting(ev *keptn.TaskEvent, actionIndex int, actionName, namespace, cause string, since time.Time, s Settings) (*batchv1.Job, error) {
	job, err := Record(ev, actionIndex, actionName, cause, s)
	if err != nil {
		return nil, err
	}
	job.Namespace = namespace
	delete(job.Annotations, AnnotationInvalid)
	job.Annotations[AnnotationWaiting] = truncate(cause)
	job.Annotations[AnnotationWaitingSince] = since.UTC().Format(time.RFC3339Nano)
	job.Spec.Template.Spec.Containers[0].Name = "waiting"
	return job, nil
}

// WaitingSince reads AnnotationWaitingSince; ok is false on a Job that is
// not a placeholder or carries no readable time.
func WaitingSince(job *batchv1.Job) (time.Time, bool) {
	if job.Annotations[AnnotationWaiting] == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, job.Annotations[AnnotationWaitingSince])
	return t, err == nil
}
