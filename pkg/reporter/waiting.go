package reporter

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// giveUpWaiting ends the wait of placeholder job (jobs.AnnotationWaiting)
// once it is Config.RetryWindow old: the Broker has stopped redelivering
// its event, or its last attempt could not reach us, and Keptn, which has
// the action's .started, would otherwise wait for ever. The errored record
// takes the name after the placeholder's (jobs.AfterWaitName), the same
// name a late run of the action would take, so only one of them exists and
// sends the action's .finished; the placeholder's .started is its own.
func (r *Reconciler) giveUpWaiting(ctx context.Context, job *batchv1.Job) error {
	since, ok := jobs.WaitingSince(job)
	if r.Config.RetryWindow <= 0 || job.Annotations[jobs.AnnotationStarted] == "" {
		return nil
	}
	if !ok {
		since = job.CreationTimestamp.Time
	}
	if r.Sender.now().Sub(since) < r.Config.RetryWindow {
		return nil
	}
	rec := job.DeepCopy()
	rec.ObjectMeta = metav1.ObjectMeta{
		Name:        jobs.AfterWaitName(job.Name),
		Namespace:   job.Namespace,
		Labels:      job.Labels,
		Annotations: map[string]string{},
	}
	for k, v := range job.Annotations {
		switch k {
		case jobs.AnnotationWaiting, jobs.AnnotationWaitingSince, jobs.AnnotationStartClaim:
		default:
			rec.Annotations[k] = v
		}
	}
	rec.Annotations[jobs.AnnotationInvalid] = fmt.Sprintf("gave up after waiting for %s (RETRY_WINDOW, counted from the triggered event's time): %s",
		r.Config.RetryWindow, job.Annotations[jobs.AnnotationWaiting])
	rec.Status = batchv1.JobStatus{}
	rec.Spec.Selector = nil
	delete(rec.Spec.Template.Labels, "batch.kubernetes.io/controller-uid")
	delete(rec.Spec.Template.Labels, "controller-uid")
	delete(rec.Spec.Template.Labels, "batch.kubernetes.io/job-name")
	delete(rec.Spec.Template.Labels, "job-name")
	created, err := r.Jobs(rec.Namespace).Create(ctx, rec, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// The action ran after all, or another sweep gave it up.
		r.handedOver(ctx, job)
		return nil
	case err != nil:
		return fmt.Errorf("giving up waiting job %s/%s: %w", job.Namespace, job.Name, err)
	}
	r.handedOver(ctx, job)
	r.Config.Log.WarnContext(ctx, "an action waited too long; giving it up", "job", job.Namespace+"/"+job.Name, "record", created.Namespace+"/"+created.Name)
	_, err = r.Reconcile(ctx, created)
	return err
}

// handedOver marks placeholder p done once the Job after it exists, so the
// sweep stops visiting it and removes it after the record TTL. Best effort.
func (r *Reconciler) handedOver(ctx context.Context, p *batchv1.Job) {
	p = p.DeepCopy()
	p.Annotations[jobs.AnnotationReported] = r.Sender.now().UTC().Format(time.RFC3339Nano)
	if _, err := r.Jobs(p.Namespace).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		r.Config.Log.DebugContext(ctx, "marking a placeholder done", "job", p.Namespace+"/"+p.Name, "error", err.Error())
	}
}
