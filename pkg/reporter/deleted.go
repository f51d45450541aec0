package reporter

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// Deleted reports a Job that was deleted before its .finished went out
// (deleted by hand, or by its TTL while no replica could report), so that
// Keptn's sequence does not wait forever. The delete event carries the last
// state of the Job: its annotations say whether it was reported. Its status
// is not used (jobHint strips it): nothing can check it any more.
//
// No claim can be written on a deleted Job, so this send is not claimed. It
// cannot race a claimed one: a replica that claimed before the deletion
// left its claim in the deleted object (then we stay out), and one that
// tries after finds no Job to claim. Only a redelivery of the same delete
// event can repeat it, and both sends carry the same event id.
func (r *Reconciler) Deleted(ctx context.Context, job *batchv1.Job) (Outcome, error) {
	var out Outcome
	if !r.ours(job) || job.Annotations[jobs.AnnotationSilent] == "true" || job.Annotations[jobs.AnnotationReported] != "" {
		return out, nil
	}
	if job.Annotations[jobs.AnnotationWaiting] != "" {
		// A placeholder's .finished is owed by the Job after it
		// (jobs.AfterWaitName), never by the placeholder itself.
		return out, nil
	}
	if _, err := jobs.OriginOf(job); err != nil {
		return out, permanent.New(fmt.Errorf("%w: %w", ErrBadJob, err))
	}
	if job.Annotations[jobs.AnnotationStarted] == "" {
		// Without a claim, a .started sent here could go out twice (a
		// redelivery after a failed .finished), and a second .started would
		// keep Keptn waiting for a second .finished. Keptn times out a task
		// whose .started never came (TASK_STARTED_WAIT_DURATION) by itself.
		r.Config.Log.WarnContext(ctx, "job deleted before its .started was sent; leaving the task to Keptn's timeout", "job", job.Namespace+"/"+job.Name)
		return out, nil
	}
	s := r.Sender
	now := s.now()
	if claim.Of(job.Annotations, FinishedKeys, s.Holder, now) != claim.Free {
		// A live claim, even one of ours from another goroutine: its holder
		// was sending when the Job went.
		out.Busy = true
		return out, nil
	}
	// The payload's selector is the caller's word too, so no pods are
	// read: a deleted Job reports errored without logs.
	v := verdict.Deleted(job, nil, now, r.Config.Eval)
	f, err := finished.Compose(v.Finished, r.fetchLogs(ctx, job, v), r.maxEventBytes(job), r.sizer(job, v.Lines))
	if err != nil {
		return out, err
	}
	if err := s.sendGone(ctx, job, &f, v.Lines); err != nil {
		return out, err
	}
	out.Reported = true
	r.Config.Log.InfoContext(ctx, "reported deleted job", "job", job.Namespace+"/"+job.Name, "status", f.Status, "result", f.Result)
	return out, nil
}

// sendGone sends .finished for a Job that no longer exists, with the id
// the claimed send would have used.
func (s *Sender) sendGone(ctx context.Context, job *batchv1.Job, f *keptn.Finished, lines []verdict.Line) error {
	o, err := jobs.OriginOf(job)
	if err != nil {
		return permanent.New(fmt.Errorf("%w: %w", ErrBadJob, err))
	}
	ev, err := s.finishedEvent(job, o, *f, lines)
	if err != nil {
		return err
	}
	if err := s.sinkFor(job).Send(ctx, ev); err != nil {
		return fmt.Errorf("%s for deleted job %s/%s: %w", ev.Type(), job.Namespace, job.Name, err)
	}
	s.observer().Sent(ctx, job, ev)
	return nil
}
