package reporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
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
// ApiServerSource is installed. Per namespace it lists our Jobs (paginated),
// and, only when one of them is unreported, our pods once (paginated,
// label-selected), grouped by Job: two lists per namespace at most,
// whatever the number of Jobs. Every Job not yet reported is reconciled
// with its pods (a .started its creator never sent, a .finished the watch
// missed or failed to send, a Job that can never run). Reported record
// Jobs past Config.RecordTTL are deleted.
//
// Jobs are listed before pods so that every pod is at least as new as its
// Job: a Job found ended is judged on pods that have ended too.
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
	count := func(f func(*SweepStats)) {
		mu.Lock()
		defer mu.Unlock()
		f(&st)
	}
	var errs []error
	for _, ns := range r.namespaces() {
		if err := r.sweepNamespace(ctx, ns, count); err != nil {
			errs = append(errs, err)
		}
	}
	st.Duration = time.Since(begin)
	return st, errors.Join(errs...)
}

// sweepNamespace is one namespace's part of Sweep. Jobs whose outcome
// needs no pod to be due (ended, stopped, owing .started, placeholders) are
// held from the Job list; a running Job is held only by name, and only an
// ended or stuck pod in the pod list makes it due (it is then read again):
// so a sweep of thousands of running Jobs holds names, not objects.
func (r *Reconciler) sweepNamespace(ctx context.Context, ns string, count func(func(*SweepStats))) error {
	held := map[string]*batchv1.Job{}
	running := map[string]bool{}
	err := r.listJobs(ctx, ns, func(job *batchv1.Job) {
		if held[job.Name] != nil || running[job.Name] {
			return // listed again after an expired continue token
		}
		count(func(st *SweepStats) { st.Scanned++ })
		done := job.Annotations[jobs.AnnotationReported] != "" || job.Annotations[jobs.AnnotationWaiting] != "" && r.expiredRecord(job)
		if done && r.expiredRecord(job) {
			deleted, err := r.deleteRecord(ctx, job)
			count(func(st *SweepStats) { st.Deleted += b2i(deleted); st.Errors += b2i(err != nil) })
			return
		}
		switch {
		case !r.unreported(job):
		case dueWithoutPods(job):
			held[job.Name] = trimJob(job)
		default:
			running[job.Name] = true
		}
	})
	if err != nil || len(held)+len(running) == 0 {
		return err
	}
	now := r.Sender.now()
	pods, err := r.podsByJob(ctx, ns, func(job string, pod *corev1.Pod) bool {
		return held[job] != nil || running[job] && (verdict.Ended(pod) || verdict.Stuck(pod, now, r.Config.Eval))
	})
	if err != nil {
		return err
	}
	for name := range running {
		if _, due := pods[name]; !due {
			count(func(st *SweepStats) { st.Pending++ })
			continue
		}
		held[name] = nil // read again below
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.concurrency())
	for name, job := range held {
		g.Go(func() error {
			out, err := r.sweepOne(gctx, ns, name, job, pods[name])
			count(func(st *SweepStats) {
				st.Started += b2i(out.Started)
				st.Stopped += b2i(out.Stopped)
				st.Reported += b2i(out.Reported)
				st.Busy += b2i(out.Busy)
				st.Errors += b2i(err != nil)
				st.Pending += b2i(err != nil || !out.Reported)
			})
			// A Job's failure is counted, not returned: the others go on.
			return nil
		})
	}
	return g.Wait()
}

// sweepOne reconciles one Job of a sweep; a nil job is read first (a
// running Job whose pod has ended or is stuck).
func (r *Reconciler) sweepOne(ctx context.Context, ns, name string, job *batchv1.Job, pods []corev1.Pod) (Outcome, error) {
	if job == nil {
		var err error
		job, err = r.Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return Outcome{}, nil
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("reading job %s/%s: %w", ns, name, err)
		}
	}
	out, err := r.reconcileWith(ctx, job, pods, podSource{listed: true})
	if err != nil {
		r.Config.Log.WarnContext(ctx, "sweep: reconciling job", "job", ns+"/"+name, "error", err.Error(), "retryable", IsRetryable(err))
	}
	return out, err
}

// dueWithoutPods says whether an unreported Job has something due whatever
// its pods show: its outcome is recorded (condition or stop), its .started
// is owed, or it is a placeholder or a record.
func dueWithoutPods(job *batchv1.Job) bool {
	a := job.Annotations
	return verdict.Decided(job) || a[jobs.AnnotationStarted] == "" || a[jobs.AnnotationWaiting] != "" || a[jobs.AnnotationInvalid] != ""
}

// podsByJob lists our pods in namespace once, grouped by their Job's name
// (the verdict keeps only the pods the Job controls, by UID), keeping those
// keep wants.
func (r *Reconciler) podsByJob(ctx context.Context, namespace string, keep func(job string, pod *corev1.Pod) bool) (map[string][]corev1.Pod, error) {
	out := map[string][]corev1.Pod{}
	err := r.eachPage(ctx, namespace, "pods", func(opts metav1.ListOptions) (runtime.Object, error) {
		return r.Pods(namespace).List(ctx, opts)
	}, func(obj runtime.Object) {
		pod := obj.(*corev1.Pod)
		if name := jobNameOf(pod); name != "" && keep(name, pod) {
			pod.ManagedFields = nil
			out[name] = append(out[name], *pod)
		}
	})
	return out, err
}

// trimJob drops what no verdict reads and what makes a Job large in
// memory (managedFields), for the Jobs a sweep holds until their pods
// are listed.
func trimJob(job *batchv1.Job) *batchv1.Job {
	j := *job
	j.ManagedFields = nil
	return &j
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

func (r *Reconciler) selector() string {
	return labels.Set{jobs.LabelManagedBy: r.Config.ManagedBy}.String()
}

// listJobs pages through our Jobs in namespace.
func (r *Reconciler) listJobs(ctx context.Context, namespace string, visit func(*batchv1.Job)) error {
	return r.eachPage(ctx, namespace, "jobs", func(opts metav1.ListOptions) (runtime.Object, error) {
		return r.Jobs(namespace).List(ctx, opts)
	}, func(obj runtime.Object) { visit(obj.(*batchv1.Job)) })
}

// eachPage pages through a label-selected list of ours. A continue token
// that expired (410: the list took longer than etcd keeps history)
// restarts the list once; items seen twice are harmless, reconciling is
// idempotent. (client-go's pager falls back to one full list only in
// List, which holds every page at once.)
func (r *Reconciler) eachPage(ctx context.Context, namespace, what string, page func(metav1.ListOptions) (runtime.Object, error), visit func(runtime.Object)) error {
	p := pager.New(pager.SimplePageFunc(page))
	p.PageSize = r.pageSize()
	// client-go buffers 10 pages ahead by default: 5,000 Jobs or pods in
	// memory at once. One page ahead keeps the list streaming.
	p.PageBufferSize = 1
	each := func(obj runtime.Object) error {
		visit(obj)
		return nil
	}
	opts := metav1.ListOptions{LabelSelector: r.selector()}
	err := p.EachListItem(ctx, opts, each)
	if apierrors.IsResourceExpired(err) {
		err = p.EachListItem(ctx, opts, each)
	}
	if err != nil {
		return fmt.Errorf("listing %s in %s: %w", what, where(namespace), err)
	}
	return nil
}

func where(namespace string) string {
	if namespace == "" {
		return "all namespaces"
	}
	return namespace
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
