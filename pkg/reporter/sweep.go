package reporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// SweepStats count what one sweep did, for logs and metrics.
type SweepStats struct {
	// Scanned Jobs of ours, reported or not.
	Scanned  int
	Started  int
	Stopped  int
	Reported int
	// Busy Jobs had a claim held by another replica.
	Busy int
	// Deleted reported record Jobs past their TTL.
	Deleted int
	Errors  int
	// Pending Jobs are still unreported after this sweep (running, waiting
	// for a sibling, busy, failed): the sweep stays armed (pkg/wake).
	Pending int
	// Skipped: this replica was still sweeping; this tick did nothing.
	Skipped  bool
	Duration time.Duration
}

// Sweep is the safety net of the watch, and all of the reporting when no
// ApiServerSource is installed: one paginated List of our Jobs, and every
// Job not yet reported is reconciled (a .started its creator never sent, a
// .finished the watch missed or failed to send, a Job that can never run).
// Reported record Jobs past Config.RecordTTL are deleted.
//
// The error is about listing only (answer 5xx, the tick comes again); a
// Job that fails is logged and counted in Errors, and the next sweep
// retries it.
func (r *Reconciler) Sweep(ctx context.Context) (SweepStats, error) {
	var st SweepStats
	if !r.sweeping.TryLock() {
		st.Skipped = true
		return st, nil
	}
	defer r.sweeping.Unlock()
	begin := time.Now()

	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.concurrency())
	count := func(out Outcome, err error) {
		mu.Lock()
		defer mu.Unlock()
		st.Started += b2i(out.Started)
		st.Stopped += b2i(out.Stopped)
		st.Reported += b2i(out.Reported)
		st.Busy += b2i(out.Busy)
		st.Errors += b2i(err != nil)
		st.Pending += b2i(err != nil || !out.Reported)
	}
	visit := func(job *batchv1.Job) {
		mu.Lock()
		st.Scanned++
		mu.Unlock()
		waiting := job.Annotations[jobs.AnnotationWaiting] != ""
		if job.Annotations[jobs.AnnotationReported] != "" || waiting && r.expiredRecord(job) {
			if r.expiredRecord(job) {
				deleted, err := r.deleteRecord(ctx, job)
				mu.Lock()
				st.Deleted += b2i(deleted)
				st.Errors += b2i(err != nil)
				mu.Unlock()
			}
			return
		}
		if job.Annotations[jobs.AnnotationSilent] == "true" {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := r.Reconcile(ctx, job)
			if err != nil {
				r.Config.Log.WarnContext(ctx, "sweep: reconciling job", "job", job.Namespace+"/"+job.Name, "error", err.Error(), "retryable", IsRetryable(err))
			}
			count(out, err)
		}()
	}

	var errs []error
	for _, ns := range r.namespaces() {
		if err := r.listJobs(ctx, ns, visit); err != nil {
			errs = append(errs, err)
		}
	}
	wg.Wait()
	st.Duration = time.Since(begin)
	return st, errors.Join(errs...)
}

// unreported says whether job still owes Keptn a response: the Jobs Sweep
// reconciles, and stays armed for.
func (r *Reconciler) unreported(job *batchv1.Job) bool {
	waiting := job.Annotations[jobs.AnnotationWaiting] != ""
	if job.Annotations[jobs.AnnotationReported] != "" || waiting && r.expiredRecord(job) {
		return false
	}
	return job.Annotations[jobs.AnnotationSilent] != "true"
}

// Unreported counts our Jobs that still owe Keptn a response, with the
// sweep's list and without reconciling them: what a disarm checks.
func (r *Reconciler) Unreported(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	for _, ns := range r.namespaces() {
		if err := r.listJobs(ctx, ns, func(job *batchv1.Job) { n += b2i(r.unreported(job)) }); err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

func (r *Reconciler) namespaces() []string {
	if len(r.Config.Namespaces) == 0 {
		return []string{metav1.NamespaceAll}
	}
	return r.Config.Namespaces
}

// listJobs pages through our Jobs in namespace. A continue token that
// expired (410: the list took longer than etcd keeps history) restarts the
// list once; Jobs seen twice are harmless, reconciling is idempotent.
func (r *Reconciler) listJobs(ctx context.Context, namespace string, visit func(*batchv1.Job)) error {
	sel := labels.Set{jobs.LabelManagedBy: r.Config.ManagedBy}.String()
	cont := ""
	restarted := false
	for {
		list, err := r.Jobs(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel, Limit: r.pageSize(), Continue: cont})
		if apierrors.IsResourceExpired(err) && cont != "" && !restarted {
			cont, restarted = "", true
			continue
		}
		if err != nil {
			where := namespace
			if where == "" {
				where = "all namespaces"
			}
			return fmt.Errorf("listing jobs in %s: %w", where, err)
		}
		for i := range list.Items {
			visit(&list.Items[i])
		}
		if cont = list.Continue; cont == "" {
			return nil
		}
	}
}

// expiredRecord reports whether job is a reported record Job older than
// the record TTL, counted from its report.
func (r *Reconciler) expiredRecord(job *batchv1.Job) bool {
	if job.Annotations[jobs.AnnotationWaiting] != "" {
		// A placeholder is never reported; by the record TTL its action
		// has long been run or given up.
		return !job.CreationTimestamp.IsZero() && r.Sender.now().Sub(job.CreationTimestamp.Time) >= r.recordTTL()
	}
	if job.Annotations[jobs.AnnotationInvalid] == "" {
		return false
	}
	since := job.CreationTimestamp.Time
	if t, err := time.Parse(time.RFC3339Nano, job.Annotations[jobs.AnnotationReported]); err == nil {
		since = t
	}
	return r.Sender.now().Sub(since) >= r.recordTTL()
}

// deleteRecord deletes a record Job as it was listed: the preconditions
// keep a Job that was replaced or changed since.
func (r *Reconciler) deleteRecord(ctx context.Context, job *batchv1.Job) (bool, error) {
	background := metav1.DeletePropagationBackground
	err := r.Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &job.UID, ResourceVersion: &job.ResourceVersion},
		PropagationPolicy: &background,
	})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return false, nil
	default:
		r.Config.Log.WarnContext(ctx, "sweep: deleting record job", "job", job.Namespace+"/"+job.Name, "error", err.Error())
		return false, err
	}
}

func (r *Reconciler) concurrency() int {
	if r.Config.Concurrency > 0 {
		return r.Config.Concurrency
	}
	return 4
}

func (r *Reconciler) pageSize() int64 {
	if r.Config.PageSize > 0 {
		return r.Config.PageSize
	}
	return 500
}

func (r *Reconciler) recordTTL() time.Duration {
	if r.Config.RecordTTL > 0 {
		return r.Config.RecordTTL
	}
	return 6 * time.Hour
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
