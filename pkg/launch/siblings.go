package launch

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
)

// siblingsAnnotation lists the Jobs of every action in matches, as each of
// them will be named whether it runs (its own namespace) or is recorded as
// failed (the job namespace). Names are deterministic (jobs.Name), so the
// list is known before any Job exists and is the same on every delivery.
func siblingsAnnotation(cfg *jobconfig.Config, matches []int, ev *keptn.TaskEvent, s jobs.Settings) (string, error) {
	sibs := make([]reporter.Sibling, 0, len(matches))
	for _, i := range matches {
		a := cfg.Actions[i]
		nss := []string{s.Namespace}
		if a.Namespace != "" && a.Namespace != s.Namespace {
			nss = []string{a.Namespace, s.Namespace}
		}
		sibs = append(sibs, reporter.Sibling{Name: jobs.Name(ev.Source, ev.ID, i, a.Name), Namespaces: nss})
	}
	return reporter.EncodeSiblings(sibs)
}

// withSiblings adds the sibling list to job before it is created.
func withSiblings(job *batchv1.Job, sibs string) *batchv1.Job {
	if sibs == "" {
		return job
	}
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Annotations[reporter.AnnotationSiblings] = sibs
	return job
}

// settle runs once every matched action's .started is out: it sends the
// errored .finished of the actions that could not run, and lets the Jobs
// that ended meanwhile report (their .finished waited for the last
// .started; without this they would wait for the next sweep).
//
// created holds each Job as the write that recorded its .started left it.
// A Job of an event with one action waited for nothing but its own
// .started, and a reporter that saw it end meanwhile marked it
// (reporter.AnnotationReportDue), which that write cannot miss: so only a
// marked Job is reconciled, from the object in hand. The Jobs of several
// actions are read again: one may have ended while a later sibling's
// .started went out, and no write of ours saw that.
func (h *Handler) settle(ctx context.Context, pending []*batchv1.Job, created []*batchv1.Job) error {
	var errs []error
	for _, rec := range pending {
		if h.Settle == nil {
			errs = append(errs, h.finishRecord(ctx, rec))
			continue
		}
		// The reconciler fits the record's .finished to the event size
		// budget and makes it smaller if Keptn refuses it. A failure is
		// the broker's to retry: the record's .finished is this event's.
		if err := h.settleOne(ctx, rec); err != nil {
			errs = append(errs, owed(err))
		}
	}
	if h.Settle == nil {
		return errors.Join(errs...)
	}
	alone := len(pending)+len(created) == 1
	for _, job := range created {
		var err error
		switch {
		case !alone:
			err = h.settleOne(ctx, job)
		case reporter.ReportDue(job):
			err = h.Settle(ctx, job)
		}
		if err != nil {
			// The watch and the sweep report it later; the triggered
			// event itself is done.
			h.Log.WarnContext(ctx, "reporting a sibling job", "job", job.Namespace+"/"+job.Name, "error", err.Error())
		}
	}
	return errors.Join(errs...)
}

// settleOne reconciles job as it is now: it may have ended since it was
// created.
func (h *Handler) settleOne(ctx context.Context, job *batchv1.Job) error {
	fresh, err := h.Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return h.Settle(ctx, fresh)
}

// finishRecord sends the errored .finished of a record Job.
func (h *Handler) finishRecord(ctx context.Context, rec *batchv1.Job) error {
	job, err := h.Jobs(rec.Namespace).Get(ctx, rec.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading record job %s/%s: %w", rec.Namespace, rec.Name, err)
	}
	_, err = h.Responses.Finished(ctx, job, keptn.Finished{
		Status:  keptn.StatusErrored,
		Result:  keptn.ResultFail,
		Message: job.Annotations[jobs.AnnotationInvalid],
	})
	return h.responseErr(ctx, err)
}
