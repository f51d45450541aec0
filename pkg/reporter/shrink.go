package reporter

import (
	"context"
	"errors"
	"net/http"
	"strings"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// IsTooLarge reports whether err is a receiver refusing the event for its
// size: Keptn's api-service answers a body over its MAX_EVENT_SIZE_KB with
// 400 `parsing body body from "" failed, because http: request body too
// large`; a proxy in front of it (nginx's client_max_body_size) with 413.
func IsTooLarge(err error) bool {
	var se *sink.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Status {
	case http.StatusRequestEntityTooLarge:
		return true
	case http.StatusBadRequest:
		return se.Err != nil && strings.Contains(se.Err.Error(), "request body too large")
	}
	return false
}

// sendFinished sends f under holder's claim and, while Keptn refuses it as
// too large, the smaller versions of shrinkSteps.
func (r *Reconciler) sendFinished(ctx context.Context, job *batchv1.Job, v verdict.Verdict, logs []finished.Log, f keptn.Finished, holder string) (keptn.Finished, error) {
	j, err := r.finishedAs(ctx, job, f, v.Lines, holder)
	for _, smaller := range finished.Smaller(v, logs, r.maxEventBytes(job), r.sizer(job, v.Lines), job) {
		if !IsTooLarge(err) {
			return f, err
		}
		r.Config.Log.WarnContext(ctx, "Keptn refused .finished as too large; sending a smaller one (is KEPTN_MAX_EVENT_SIZE_KB above the api-service's MAX_EVENT_SIZE_KB?)", "error", err.Error())
		next, cerr := smaller()
		if cerr != nil {
			continue
		}
		f = next
		// The failed send released our claim; finishedAs takes it again.
		j, err = r.finishedAs(ctx, j, f, v.Lines, holder)
	}
	return f, err
}
