package reporter

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// AnnotationReportDue marks a Job that a reporter (the watch or the sweep)
// found ended, or never able to run, while its .started was still being
// sent by another attempt: its .finished is due, and it cannot go out
// before .started is recorded. Whoever records .started then reports it
// (ReportDue), so the creator of a Job does not have to read every Job
// back after recording its .started to find the rare one that ended first.
//
// The two writes are ordered: if the marker comes first, the patch that
// records .started (claim.Complete) applies to the Job as it is then and
// answers it with the marker; if .started is recorded first, the marker's
// write, which carries the resourceVersion its reporter read, conflicts,
// and the reporter, reading again, finds .started recorded and reports the
// Job itself. Either way one of
// the two reports it at once, and the report claim keeps it to one.
const AnnotationReportDue = jobs.Domain + "report-due"

// ReportDue reports whether the caller that has just recorded job's
// .started must report it: a reporter saw it end meanwhile, and it is not
// reported yet.
func ReportDue(job *batchv1.Job) bool {
	return job != nil && job.Annotations[AnnotationReportDue] != "" && job.Annotations[jobs.AnnotationReported] == ""
}

// podSource says what a reconcile knows of the Job's pods. The zero value:
// not listed; a Job event, whose pods are listed when the Job's .finished
// may be due. For a Job whose .started another attempt is sending, the
// Job's own status decides whether it is due: a pod's end arrives as a pod
// event of its own, which lists the pods with the Job.
type podSource struct {
	// listed: the sweep or a pod event listed them.
	listed bool
}

// startedBusy handles a Job whose .started another attempt is sending
// (the creator, normally, between its create and the write that records
// .started). When the Job's .finished is already due, it marks the Job
// (AnnotationReportDue) so the sender of .started reports it; if the
// sender recorded .started meanwhile, it returns the fresh Job and true:
// the caller reports it now.
func (r *Reconciler) startedBusy(ctx context.Context, job *batchv1.Job, pods []corev1.Pod) (*batchv1.Job, bool, error) {
	if job.Annotations[AnnotationReportDue] != "" || job.Annotations[jobs.AnnotationWaiting] != "" || job.Annotations[jobs.AnnotationInvalid] != "" {
		// Marked already; or a placeholder or record, which never report
		// from their pods and whose creator settles them anyway.
		return job, false, nil
	}
	if !verdict.Evaluate(job, pods, r.Sender.now(), r.Config.Eval).Terminal {
		return job, false, nil
	}
	started := false
	j, _, err := claim.Update(ctx, r.Jobs(job.Namespace), job, func(cur *batchv1.Job) (bool, bool) {
		switch {
		case cur.Annotations[jobs.AnnotationReported] != "", cur.Annotations[AnnotationReportDue] != "":
			return false, false
		case startedOrSilent(cur):
			started = true
			return false, false
		}
		cur.Annotations[AnnotationReportDue] = r.Sender.now().UTC().Format(time.RFC3339Nano)
		return true, false
	})
	switch {
	case apierrors.IsNotFound(err):
		return job, false, nil
	case err != nil:
		return job, false, fmt.Errorf("marking job %s/%s's report due: %w", job.Namespace, job.Name, err)
	}
	return j, started, nil
}
