package launch

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
)

// A failure that may pass (a registry or the API server that does not
// answer, Keptn's resource-service answering 500 for a commit it does not
// know) is retried by the Broker, but only until the event is RetryWindow
// old, counted from its own `time`. The count lives in the event because
// the function holds no state and every delivery carries the same time;
// the sweep applies the same bound to placeholders (jobs.Waiting), which
// record that time. After it, Keptn gets an errored .finished naming the
// cause instead of a sequence that hangs (docs/completion.md, "Failures
// that repeat").

// DefaultRetryWindow fits in the shipped Trigger's retries (6, exponential
// from 1 s: the last attempt comes about 63 s after the first), so the last
// attempt is the one that gives up.
const DefaultRetryWindow = 45 * time.Second

// errCreate marks a Job whose creation failed in a way that may pass.
var errCreate = errors.New("creating the job failed")

// waitingError is run's answer when the action's Job name is held by a
// placeholder: the action waited on an earlier delivery.
type waitingError struct{ job *batchv1.Job }

func (w *waitingError) Error() string {
	return fmt.Sprintf("job %s/%s is a placeholder of an action that waits", w.job.Namespace, w.job.Name)
}

// actionResult is what handling one matched action left to do.
type actionResult struct {
	pending *batchv1.Job // a record whose errored .finished settle sends
	started *batchv1.Job // a Job that runs; settle reports it if it ended
	// record is the write that records started's .started, not made yet
	// (Handle makes it, after its answer when it can).
	record   *reporter.Record
	created  bool
	existing bool
	invalid  bool
	err      error
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) retryWindow() time.Duration {
	if h.RetryWindow > 0 {
		return h.RetryWindow
	}
	return DefaultRetryWindow
}

// expired reports whether ev is past the retry window. An event without a
// time is never past it: the Broker's retries are then the only bound.
func (h *Handler) expired(ev *keptn.TaskEvent) bool {
	return !ev.Time.IsZero() && h.now().Sub(ev.Time) >= h.retryWindow()
}

// giveUpMessage names the cause and the bound.
func (h *Handler) giveUpMessage(cause error) string {
	return fmt.Sprintf("gave up after retrying for %s (RETRY_WINDOW, counted from the triggered event's time): %v", h.retryWindow(), cause)
}

// action handles matched action i: build and create its Job, or record why
// it cannot run, or wait for what it needs with Keptn's .started already out.
func (h *Handler) action(ctx context.Context, cfg *jobconfig.Config, i int, ev *keptn.TaskEvent, sibs string) actionResult {
	name := cfg.Actions[i].Name
	job, err := h.build(ctx, cfg, i, ev)
	switch {
	case isUnavailable(err):
		// A registry or the API server could not answer: the action waits.
		return h.wait(ctx, cfg, i, ev, err, sibs)
	case err != nil:
		// A config error that only the event reveals (a jsonpath that
		// finds nothing, a loosened security context) or the policy's
		// refusal: this action fails with its message; the others still
		// run.
		return h.refuse(ctx, ev, i, name, actionNamespace(cfg, i, h.Settings), err.Error(), sibs)
	}
	started, rec, created, err := h.start(ctx, withSiblings(job, sibs))
	var w *waitingError
	switch {
	case errors.As(err, &w):
		return h.resume(ctx, ev, i, name, w.job, job, "", sibs)
	case errors.Is(err, errRefused):
		return h.refuse(ctx, ev, i, name, job.Namespace, err.Error(), sibs)
	case errors.Is(err, errCreate):
		return h.wait(ctx, cfg, i, ev, err, sibs)
	case err != nil:
		// The Job exists; its .started is what failed. The Broker's retry
		// or the sweep sends it.
		return actionResult{created: created, err: err}
	}
	return actionResult{started: started, record: rec, created: created, existing: !created}
}

// actionNamespace is where action i's Job runs.
func actionNamespace(cfg *jobconfig.Config, i int, s jobs.Settings) string {
	if ns := cfg.Actions[i].Namespace; ns != "" {
		return ns
	}
	return s.Namespace
}

// refuse records action i as failed with message. If the action waited
// before, its placeholder holds the name and the record takes the name
// after it.
func (h *Handler) refuse(ctx context.Context, ev *keptn.TaskEvent, i int, name, ns, message, sibs string) actionResult {
	if p, err := h.placeholder(ctx, ns, jobs.Name(ev.Source, ev.ID, i, name)); err != nil {
		return actionResult{err: owed(err)}
	} else if p != nil {
		return h.resume(ctx, ev, i, name, p, nil, message, sibs)
	}
	rec, err := h.fail(ctx, ev, i, name, message, sibs)
	var w *waitingError
	if errors.As(err, &w) {
		return h.resume(ctx, ev, i, name, w.job, nil, message, sibs)
	}
	return actionResult{pending: rec, invalid: true, err: err}
}

// placeholder returns the Job named name in namespace if it is a
// placeholder, nil if there is none. Records live in the job namespace;
// the placeholder lives where the action runs, so where the two differ the
// record's AlreadyExists cannot find it.
func (h *Handler) placeholder(ctx context.Context, ns, name string) (*batchv1.Job, error) {
	if ns == h.Settings.Namespace {
		return nil, nil
	}
	job, err := h.Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		// Where we may not read, we could not have created one either
		// (an action refused for its namespace).
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading job %s/%s: %w", ns, name, err)
	case job.Annotations[jobs.AnnotationWaiting] != "":
		return job, nil
	}
	return nil, nil
}

// wait gives action i a placeholder under its Job name, so Keptn has its
// .started at once, and asks the Broker to retry. Past the retry window it
// gives the action up instead: an errored .finished naming cause.
func (h *Handler) wait(ctx context.Context, cfg *jobconfig.Config, i int, ev *keptn.TaskEvent, cause error, sibs string) actionResult {
	name, ns := cfg.Actions[i].Name, actionNamespace(cfg, i, h.Settings)
	if h.expired(ev) {
		return h.refuse(ctx, ev, i, name, ns, h.giveUpMessage(cause), sibs)
	}
	since := ev.Time
	if since.IsZero() {
		since = h.now()
	}
	p, err := jobs.Waiting(ev, i, name, ns, cause.Error(), since, h.Settings)
	if err != nil {
		return actionResult{err: err}
	}
	started, created, err := h.run(ctx, withSiblings(p, sibs))
	var w *waitingError
	switch {
	case errors.As(err, &w):
		// Placeholder from an earlier delivery: its .started may still be
		// owed (its sender crashed).
		if _, err := h.ensureStarted(ctx, w.job); err != nil {
			return actionResult{err: err}
		}
		return actionResult{existing: true, err: owed(cause)}
	case err != nil:
		// Not even the placeholder could be created: nothing can be sent
		// exactly once, so the Broker keeps the event.
		return actionResult{err: owed(errors.Join(cause, err))}
	case created:
		h.Log.InfoContext(ctx, "action waits; Keptn has its .started", "job", p.Namespace+"/"+p.Name, "cause", cause.Error())
		return actionResult{created: true, err: owed(cause)}
	}
	// The real Job was there: another delivery could build it.
	return actionResult{started: started, existing: true}
}

// resume ends placeholder p's wait: job is the action's real Job, or nil
// when the action cannot run (message says why). Either takes the name
// after the placeholder's with the placeholder's .started as its own, so
// Keptn counts one .started and one .finished for the action. The name
// decides between a late run and the sweep giving up: whoever creates it
// first owns the .finished.
func (h *Handler) resume(ctx context.Context, ev *keptn.TaskEvent, i int, name string, p, job *batchv1.Job, message, sibs string) actionResult {
	// Nothing may inherit a .started that is not out.
	if _, err := h.ensureStarted(ctx, p); err != nil {
		return actionResult{err: err}
	}
	p, err := h.Jobs(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return actionResult{err: owed(fmt.Errorf("reading placeholder job: %w", err))}
	}
	startedAt := p.Annotations[jobs.AnnotationStarted]
	if startedAt == "" {
		return actionResult{err: owed(fmt.Errorf("placeholder job %s/%s has no .started yet", p.Namespace, p.Name))}
	}
	if job != nil {
		next := withSiblings(job, sibs)
		next.Name = jobs.AfterWaitName(p.Name)
		next.Annotations[jobs.AnnotationStarted] = startedAt
		delete(next.Annotations, jobs.AnnotationStartClaim)
		created, err := h.Jobs(next.Namespace).Create(ctx, next, metav1.CreateOptions{})
		switch {
		case err == nil:
			h.Log.InfoContext(ctx, "created job after its action waited", "job", next.Namespace+"/"+next.Name)
			if h.Observer != nil {
				h.Observer.Created(ctx, created)
			}
			h.handedOver(ctx, p)
			return actionResult{started: created, created: true}
		case apierrors.IsAlreadyExists(err):
			h.handedOver(ctx, p)
			return h.taken(ctx, next)
		case jobs.RefusedForGood(err):
			message = fmt.Sprintf("%v: creating job %s/%s: %v", errRefused, next.Namespace, next.Name, err)
		case h.expired(ev):
			message = h.giveUpMessage(err)
		default:
			return actionResult{err: owed(fmt.Errorf("creating job %s/%s: %w", next.Namespace, next.Name, err))}
		}
	}
	rec, err := jobs.Record(ev, i, name, message, h.Settings)
	if err != nil {
		return actionResult{err: err}
	}
	rec = withSiblings(rec, sibs)
	rec.Namespace, rec.Name = p.Namespace, jobs.AfterWaitName(p.Name)
	rec.Annotations[jobs.AnnotationStarted] = startedAt
	_, err = h.Jobs(rec.Namespace).Create(ctx, rec, metav1.CreateOptions{})
	switch {
	case err == nil:
		h.handedOver(ctx, p)
		return actionResult{pending: rec, created: true, invalid: true}
	case apierrors.IsAlreadyExists(err):
		h.handedOver(ctx, p)
		return h.taken(ctx, rec)
	default:
		return actionResult{err: owed(fmt.Errorf("creating record job %s/%s: %w", rec.Namespace, rec.Name, err))}
	}
}

// handedOver marks placeholder p as done once the Job after it exists, so
// the sweep stops visiting it (and removes it after the record TTL). Best
// effort: unmarked, the sweep finds the Job after it and does nothing.
func (h *Handler) handedOver(ctx context.Context, p *batchv1.Job) {
	if p.Annotations[jobs.AnnotationReported] != "" {
		return
	}
	p = p.DeepCopy()
	p.Annotations[jobs.AnnotationReported] = h.now().UTC().Format(time.RFC3339Nano)
	if _, err := h.Jobs(p.Namespace).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		h.Log.DebugContext(ctx, "marking a placeholder done", "job", p.Namespace+"/"+p.Name, "error", err.Error())
	}
}

// taken reads the Job that another delivery, or the sweep, created under
// the name after a placeholder's.
func (h *Handler) taken(ctx context.Context, want *batchv1.Job) actionResult {
	got, err := h.Jobs(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return actionResult{err: owed(fmt.Errorf("reading job %s/%s: %w", want.Namespace, want.Name, err))}
	}
	if got.Annotations[jobs.AnnotationInvalid] != "" {
		return actionResult{pending: got, existing: true, invalid: true}
	}
	return actionResult{started: got, existing: true}
}

// eventRecordName names the record of an event whose config could not be
// read within the retry window: no action is known, so it stands for them
// all.
func eventRecordName(ev *keptn.TaskEvent) string {
	return jobs.Name(ev.Source, ev.ID, -1, "job-config")
}

// givenUp reports whether an earlier delivery gave ev up before its config
// could be read; then nothing else may be sent for it (its task is closed
// in Keptn). It is asked only past the retry window, where such a record
// can exist.
func (h *Handler) givenUp(ctx context.Context, ev *keptn.TaskEvent) (*batchv1.Job, error) {
	if !h.expired(ev) {
		return nil, nil
	}
	job, err := h.Jobs(h.Settings.Namespace).Get(ctx, eventRecordName(ev), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, owed(fmt.Errorf("reading job %s/%s: %w", h.Settings.Namespace, eventRecordName(ev), err))
	}
	return job, nil
}

// giveUpEvent tells Keptn that ev's config could not be read within the
// retry window: one .started and one errored .finished naming cause, on a
// record that stands for whatever actions would have matched.
func (h *Handler) giveUpEvent(ctx context.Context, ev *keptn.TaskEvent, cause error) (Outcome, error) {
	var out Outcome
	if ran, err := h.anyJobOf(ctx, ev); err != nil || ran {
		// An earlier delivery read the config and created the actions'
		// Jobs: they answer for themselves (the sweep sends what is owed),
		// and a record now would add a failure to a task that may pass.
		return out, owed(errors.Join(cause, err))
	}
	out.Invalid = 1
	h.Log.WarnContext(ctx, "giving the event up", "error", cause.Error())
	rec, err := jobs.Record(ev, -1, "job-config", h.giveUpMessage(cause), h.Settings)
	if err != nil {
		return out, err
	}
	_, created, err := h.run(ctx, rec)
	if err != nil {
		return out, owed(err)
	}
	if created {
		out.Created++
	}
	return out, h.settle(ctx, []*batchv1.Job{rec}, nil)
}

// anyJobOf reports whether a Job of ev exists in the job namespace.
func (h *Handler) anyJobOf(ctx context.Context, ev *keptn.TaskEvent) (bool, error) {
	sel := labels.Set{jobs.LabelManagedBy: h.Settings.ManagedBy, jobs.LabelContext: jobs.LabelValue(ev.Context)}.String()
	list, err := h.Jobs(h.Settings.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return false, fmt.Errorf("listing jobs of the event: %w", err)
	}
	for _, j := range list.Items {
		if j.Annotations[jobs.AnnotationEventID] == ev.ID && j.Annotations[jobs.AnnotationEventSource] == ev.Source {
			return true, nil
		}
	}
	return false, nil
}
