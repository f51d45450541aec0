package reporter

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	batchv1client "k8s.io/client-go/kubernetes/typed/batch/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/logctx"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// JobAPI is the part of client-go's JobInterface the reconciler uses.
type JobAPI interface {
	claim.JobClient
	List(ctx context.Context, opts metav1.ListOptions) (*batchv1.JobList, error)
	Create(ctx context.Context, job *batchv1.Job, opts metav1.CreateOptions) (*batchv1.Job, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// PodAPI is the part of client-go's PodInterface the reconciler uses.
type PodAPI interface {
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
}

// Config are the reconciler's settings.
type Config struct {
	// ManagedBy is the value of app.kubernetes.io/managed-by on our Jobs
	// and pods (jobs.Settings.ManagedBy).
	ManagedBy string
	// Namespaces the sweep lists; empty means all namespaces.
	Namespaces []string
	Eval       verdict.EvalOptions
	// MaxEventBytes bounds the marshalled .finished; default
	// finished.KeptnMaxEventBytes less 1 KiB for what the sink adds (its clock).
	MaxEventBytes int
	// GenericMaxEventBytes bounds a generic Job's result event as
	// structured JSON; default MaxEventBytes.
	GenericMaxEventBytes int
	// LogReadLimit bounds the bytes read of one log; default
	// DefaultLogReadLimit.
	LogReadLimit int64
	// Concurrency bounds the Jobs a sweep reconciles at once; default 4.
	Concurrency int
	// PageSize is the sweep's List limit; default 500.
	PageSize int64
	// RecordTTL is how long a reported record Job (an action that could
	// not run) is kept: they are suspended, so ttlSecondsAfterFinished never
	// removes them. Default 6h (jobs.Settings.TTLSecondsAfterFinished).
	RecordTTL time.Duration
	// RetryWindow is how long an action may wait (a placeholder Job,
	// jobs.AnnotationWaiting), counted from its triggered event's time,
	// before the sweep gives it up; zero: never (the handler's own bound
	// still applies on the Broker's retries).
	RetryWindow time.Duration
	Log         *slog.Logger
}

// Reconciler sends each of our Jobs' .finished exactly once, from watch
// events (HandleEvent) or periodic sweeps (Sweep), and stops Jobs that can
// never run.
type Reconciler struct {
	Jobs   func(namespace string) JobAPI
	Pods   func(namespace string) PodAPI
	Logs   LogReader
	Sender *Sender
	Config Config

	sweeping sync.Mutex
}

// Kube is the part of a clientset the reconciler uses; a
// *kubernetes.Clientset and client-go's fake satisfy it. Narrower than
// kubernetes.Interface so that the function need not hold a whole clientset
// in an interface, which links every API group's client (docs/benchmarks.md,
// "Scale from zero").
type Kube interface {
	BatchV1() batchv1client.BatchV1Interface
	CoreV1() corev1client.CoreV1Interface
}

// NewReconciler wires a Reconciler to a Kubernetes client. sender must be
// the one that sends .started, so both responses share source and sink.
func NewReconciler(kube Kube, sender *Sender, cfg Config) (*Reconciler, error) {
	if sender == nil {
		return nil, errors.New("report: the reconciler needs a Sender")
	}
	if cfg.ManagedBy == "" {
		return nil, errors.New("report: Config.ManagedBy is empty; it selects our Jobs")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Reconciler{
		Jobs:   func(ns string) JobAPI { return kube.BatchV1().Jobs(ns) },
		Pods:   func(ns string) PodAPI { return kube.CoreV1().Pods(ns) },
		Logs:   ClientsetLogs{Client: kube},
		Sender: sender,
		Config: cfg,
	}, nil
}

// Outcome says what one reconcile did, for logs and metrics.
type Outcome struct {
	Started  bool
	Stopped  bool
	Reported bool
	// Busy: another replica holds a claim; it, or a later sweep, finishes.
	Busy bool
	// Waiting: the Job has ended but a sibling action's .started is not
	// out yet (siblings.go); its .finished waits for it.
	Waiting bool
}

// Reconcile brings job's reports up to date: .started if it was never sent
// (its creator crashed), and .finished once the Job has ended or can never
// run (then the Job is stopped first). Another replica sending at the same
// time is not an error: Outcome.Busy is set.
func (r *Reconciler) Reconcile(ctx context.Context, job *batchv1.Job) (Outcome, error) {
	return r.reconcileWith(ctx, job, nil, podSource{})
}

// reconcileWith is Reconcile with what the caller knows of job's pods:
// the sweep lists them for a whole namespace at once, and a pod event
// lists them beside the Job.
func (r *Reconciler) reconcileWith(ctx context.Context, job *batchv1.Job, pods []corev1.Pod, src podSource) (Outcome, error) {
	var out Outcome
	if !r.ours(job) || job.Annotations[jobs.AnnotationSilent] == "true" || job.Annotations[jobs.AnnotationReported] != "" {
		return out, nil
	}
	origin, err := jobs.OriginOf(job)
	if err != nil {
		return out, permanent.New(fmt.Errorf("%w: %w", ErrBadJob, err))
	}
	ctx = logctx.With(ctx, "job", job.Namespace+"/"+job.Name, "shkeptncontext", origin.Context, "triggered_id", origin.TriggeredID)
	if job.Annotations[jobs.AnnotationStarted] == "" {
		if job, err = r.ensureStarted(ctx, job, pods, &out); err != nil || job == nil {
			return out, err
		}
	}
	if job.Annotations[jobs.AnnotationWaiting] != "" {
		// A placeholder never sends .finished (waiting.go).
		return out, r.giveUpWaiting(ctx, job)
	}
	if job.Annotations[jobs.AnnotationInvalid] == "" && !src.listed {
		if pods, err = r.podsOf(ctx, job); err != nil {
			return out, err
		}
	}
	if job.Annotations[jobs.AnnotationInvalid] != "" {
		pods = nil
	}
	return r.report(ctx, job, pods, out)
}

// ensureStarted sends job's .started if no one did. A nil Job means there
// is nothing more to do now: another attempt is sending .started (and will
// report the Job if it is due, startedBusy), or the Job is gone.
func (r *Reconciler) ensureStarted(ctx context.Context, job *batchv1.Job, pods []corev1.Pod, out *Outcome) (*batchv1.Job, error) {
	j, err := r.Sender.Started(ctx, job)
	switch {
	case errors.Is(err, ErrBusy):
		j, started, err := r.startedBusy(ctx, j, pods)
		if err != nil || !started {
			out.Busy = err == nil
			return nil, err
		}
		return j, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	out.Started = true
	return j, nil
}

// report sends job's .finished if its verdict is due, under the report
// claim.
func (r *Reconciler) report(ctx context.Context, job *batchv1.Job, pods []corev1.Pod, out Outcome) (Outcome, error) {
	v := verdict.Evaluate(job, pods, r.Sender.now(), r.Config.Eval)
	if !v.Terminal {
		return out, nil
	}
	// Claims are per attempt: concurrent deliveries to this replica must
	// not both send.
	holder := r.Sender.NewHolder()
	if claim.Of(job.Annotations, FinishedKeys, holder, r.Sender.now()) == claim.HeldByOther {
		// Another attempt is reporting (the write that took its claim is
		// itself a Job event): this one would read siblings and logs for a
		// report it cannot send.
		return r.busy(ctx, job, out), nil
	}
	if ok, err := r.siblingsStarted(ctx, job); err != nil || !ok {
		out.Waiting = err == nil
		return out, err
	}
	logs := r.prefetchLogs(ctx, job, v)
	job, state, err := r.claimReport(ctx, job, v, holder)
	if errors.Is(err, errDecidedMeanwhile) {
		// The Job controller wrote the condition while an early verdict
		// was being claimed: the condition decides.
		v = verdict.Evaluate(job, pods, r.Sender.now(), r.Config.Eval)
		job, state, err = r.claimReport(ctx, job, v, holder)
	}
	if err != nil || state != claim.HeldByUs {
		logs.stop()
	}
	switch {
	case apierrors.IsNotFound(err):
		return out, nil
	case err != nil:
		return out, err
	case state == claim.Done:
		return out, nil
	case state == claim.HeldByOther:
		return r.busy(ctx, job, out), nil
	}
	stopped := v.Stop
	if stopped != "" {
		out.Stopped = true
		// Report what the Job now records, which is ours or, after a
		// crash, what an earlier attempt recorded.
		v = verdict.Evaluate(job, pods, r.Sender.now(), r.Config.Eval)
		r.Sender.observer().Stopped(ctx, job, stopped, v.Summary)
	}
	return r.send(ctx, job, v, holder, stopped, out, logs)
}

// busy is out for a Job whose report claim another attempt holds.
func (r *Reconciler) busy(ctx context.Context, job *batchv1.Job, out Outcome) Outcome {
	r.Sender.observer().Busy(ctx, job, FinishedKeys.Claim)
	out.Busy = true
	return out
}

// send composes and sends the .finished of v under holder's claim.
func (r *Reconciler) send(ctx context.Context, job *batchv1.Job, v verdict.Verdict, holder, stopped string, out Outcome, prefetched *logPrefetch) (Outcome, error) {
	logs := r.logsFor(ctx, prefetched, job, v)
	f, err := finished.Compose(v.Finished, logs, r.maxEventBytes(job), r.sizer(job, v.Lines))
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		r.release(ctx, job, holder)
		return out, err
	}
	f, err = r.sendFinished(ctx, job, v, logs, f, holder)
	switch {
	case errors.Is(err, ErrBusy):
		// Our claim expired while logs were read, and another took it.
		out.Busy = true
		return out, nil
	case err != nil:
		return out, err
	}
	out.Reported = true
	r.Config.Log.InfoContext(ctx, "reported job", "status", f.Status, "result", f.Result, "stopped", stopped, "early", v.Early)
	return out, nil
}

func (r *Reconciler) ours(job *batchv1.Job) bool {
	return job.Labels[jobs.LabelManagedBy] == r.Config.ManagedBy
}

// podsOf lists job's pods by its selector (controller-uid), or by its
// name label when the Job has no selector yet.
//
// The list is served from the API server's watch cache, no older than the
// Job just read (its resourceVersion): a consistent list waits until that
// cache has caught up with etcd (hintedPods says how long that took). Pods
// the Job controller counted are older than the Job's status, so the cache
// has them; a pod's end it does not show yet arrives as a pod event of its
// own.
func (r *Reconciler) podsOf(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	sel := labels.Set{batchv1.JobNameLabel: job.Name}.String()
	if job.Spec.Selector != nil {
		if s, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil && !s.Empty() {
			sel = s.String()
		}
	}
	opts := metav1.ListOptions{LabelSelector: sel}
	if job.ResourceVersion != "" {
		opts.ResourceVersion, opts.ResourceVersionMatch = job.ResourceVersion, metav1.ResourceVersionMatchNotOlderThan
	}
	list, err := r.Pods(job.Namespace).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return list.Items, nil
}

// claimReport takes the .finished claim. When v says the Job must be
// stopped, the same write records why and stops it, so no replica can
// report a Job that is not stopped, or stop one without reporting it. When
// v is early (the pod has ended, the condition is not written yet), the
// same write removes the Job's deadline, so the condition that follows
// cannot be DeadlineExceeded; if the Job changed meanwhile and now has its
// condition, errDecidedMeanwhile returns the Job to judge again.
func (r *Reconciler) claimReport(ctx context.Context, job *batchv1.Job, v verdict.Verdict, holder string) (*batchv1.Job, claim.State, error) {
	s := r.Sender
	now := s.now()
	client := r.Jobs(job.Namespace)
	var change func(*batchv1.Job)
	switch {
	case v.Stop != "":
		record, err := v.StopAnnotation()
		if err != nil {
			return job, claim.Free, err
		}
		change = func(j *batchv1.Job) { stop(j, record) }
	case v.Early:
		change = func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = nil }
	default:
		j, won, err := claim.Take(ctx, client, job, FinishedKeys, holder, now, s.ClaimTTL)
		if err != nil || won {
			return j, claim.HeldByUs, err
		}
		return j, claim.Of(j.Annotations, FinishedKeys, holder, now), nil
	}
	st, decided := claim.Free, false
	j, _, err := claim.Update(ctx, client, job, func(cur *batchv1.Job) (bool, bool) {
		if st = claim.Of(cur.Annotations, FinishedKeys, holder, now); st == claim.Done || st == claim.HeldByOther {
			return false, false
		}
		if decided = v.Early && verdict.Decided(cur); decided {
			return false, false
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[FinishedKeys.Claim] = claim.Value(holder, now.Add(s.ClaimTTL))
		change(cur)
		st = claim.HeldByUs
		return true, true
	})
	switch {
	case err != nil:
		return job, claim.Free, fmt.Errorf("claiming the report: %w", err)
	case decided:
		return j, claim.Free, errDecidedMeanwhile
	}
	return j, st, nil
}

// errDecidedMeanwhile: the Job got its condition or a stop record while an
// early verdict was being claimed.
var errDecidedMeanwhile = errors.New("the job's outcome was recorded meanwhile")

// stop stops job (its claim is written beside). The stop is activeDeadlineSeconds: 1, not
// suspend: the Job controller then kills the pods and marks the Job Failed
// (DeadlineExceeded), so it is finished and ttlSecondsAfterFinished removes
// it; a suspended Job never finishes and would stay forever. A stop record
// already there (an earlier attempt) is kept, so every attempt reports the
// same reason.
func stop(job *batchv1.Job, record string) {
	if job.Annotations[jobs.AnnotationStopped] == "" {
		job.Annotations[jobs.AnnotationStopped] = record
	}
	one := int64(1)
	job.Spec.ActiveDeadlineSeconds = &one
}

// finishedAs sends .finished under the claim holder took in claimReport
// (Sender.Finished would start a new attempt, which our claim blocks).
func (r *Reconciler) finishedAs(ctx context.Context, job *batchv1.Job, f keptn.Finished, lines []verdict.Line, holder string) (*batchv1.Job, error) {
	s := r.Sender
	return s.once(ctx, job, FinishedKeys, holder, func(o keptn.Origin) (event.Event, error) {
		return s.finishedEvent(job, o, f, lines)
	})
}

// release gives up our .finished claim after a failure before sending.
func (r *Reconciler) release(ctx context.Context, job *batchv1.Job, holder string) {
	if _, err := claim.Release(context.WithoutCancel(ctx), r.Jobs(job.Namespace), job, FinishedKeys, holder); err != nil {
		r.Config.Log.WarnContext(ctx, "releasing report claim", "job", job.Namespace+"/"+job.Name, "error", err.Error())
	}
}

// fetchLogs reads the logs v names; a log that cannot be read says why.
func (r *Reconciler) fetchLogs(ctx context.Context, job *batchv1.Job, v verdict.Verdict) []finished.Log {
	var logs []finished.Log
	for _, l := range v.LogLines() {
		lg := FetchLog(ctx, r.Logs, job.Namespace, v.Pod, l.Container, r.maxEventBytes(job), r.logReadLimit())
		if lg.Err == "" && lg.Head == "" && lg.Tail == "" {
			continue
		}
		lg.Title = fmt.Sprintf("%s [%s]", l.Name(), l.Container)
		logs = append(logs, lg)
	}
	return logs
}

// sizer measures .finished for job as Keptn's api-service, which enforces
// the limit, receives it: its API body. A CloudEvents sink in binary mode
// sends less (the data alone is the body).
func (r *Reconciler) sizer(job *batchv1.Job, lines []verdict.Line) func(keptn.Finished) (int, error) {
	o, _ := jobs.OriginOf(job)
	return func(f keptn.Finished) (int, error) {
		ev, err := r.Sender.finishedEvent(job, o, f, lines)
		if err != nil {
			return 0, err
		}
		return eventSize(job, ev)
	}
}

// maxEventBytes is job's report budget: Keptn's limit, or the generic
// result's (GENERIC_RESULT_MAX_KB).
func (r *Reconciler) maxEventBytes(job *batchv1.Job) int {
	if jobs.IsGeneric(job) && r.Config.GenericMaxEventBytes > 0 {
		return r.Config.GenericMaxEventBytes
	}
	if r.Config.MaxEventBytes > 0 {
		return r.Config.MaxEventBytes
	}
	return finished.KeptnMaxEventBytes - 1024
}

func (r *Reconciler) logReadLimit() int64 {
	if r.Config.LogReadLimit > 0 {
		return r.Config.LogReadLimit
	}
	return DefaultLogReadLimit
}
