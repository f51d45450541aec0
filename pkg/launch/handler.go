// Package launch handles a Keptn task's .triggered event: find the config,
// match actions, create one Job per matching action and send .started. It is
// written so that the broker's at-least-once delivery has an exactly-once
// effect: Job names are deterministic and every response is claimed on the
// Job before it is sent.
package launch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/logctx"
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

// JobClient is the part of client-go's JobInterface this package uses.
type JobClient interface {
	claim.JobClient
	Create(ctx context.Context, job *batchv1.Job, opts metav1.CreateOptions) (*batchv1.Job, error)
	List(ctx context.Context, opts metav1.ListOptions) (*batchv1.JobList, error)
}

// errRefused marks a Job the API server will never accept.
var errRefused = errors.New("refused by the Kubernetes API")

// ConfigLoader finds the config of an event.
type ConfigLoader interface {
	Load(ctx context.Context, ev *keptn.TaskEvent) (*jobconfig.Config, error)
}

// Handler handles triggered events.
type Handler struct {
	Configs ConfigLoader
	// GenericConfigs is the config of generic events (pkg/generic); nil
	// when the mode is off.
	GenericConfigs ConfigLoader
	Jobs           func(namespace string) JobClient
	Settings       jobs.Settings
	// Policy is the operator's policy; every action passes it before its
	// Job is built. There is no way around it: nil is policy.Default, the
	// hard rules alone (and no Secret reader, so a Secret's opt-in label
	// cannot be checked and such an action waits).
	Policy *policy.Policy
	// Responses sends .started/.finished exactly once.
	Responses *reporter.Sender
	// Sink receives sh.keptn.log.error events, which have no Job to claim on.
	Sink sink.Sender
	// Integration names us in log.error events.
	Integration string
	Log         *slog.Logger
	// BusyWait is how long a redelivery waits for another replica's
	// in-flight .started before answering "retry later".
	BusyWait time.Duration
	// Observer, if set, hears about each Job created (metrics, Kubernetes
	// Events).
	Observer CreateObserver
	// Settle, if set, reports a Job of this event that may have ended
	// while its .finished waited for a sibling's .started (the
	// Reconciler's Reconcile). Without it the watch or sweep does.
	Settle func(ctx context.Context, job *batchv1.Job) error
	// RetryWindow bounds how long a failure that may pass is retried,
	// counted from the triggered event's time (wait.go); default
	// DefaultRetryWindow.
	RetryWindow time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Background, if set, writes the records of .started after the
	// answer (nil: before it).
	Background *Background
}

// CreateObserver hears about each Job this handler created. Created is
// called on the request path and must not block.
type CreateObserver interface {
	Created(ctx context.Context, job *batchv1.Job)
}

// Outcome says what happened, for logs and metrics.
type Outcome struct {
	Matched int
	Created int
	// Existing counts Jobs that a previous delivery had already created.
	Existing int
	Invalid  int
}

// Handle processes a triggered event. The error, if any, is retried (answer
// 5xx: the broker redelivers, and redelivery completes the work without
// duplicates) unless pkg/permanent says it is final (answer 400).
func (h *Handler) Handle(ctx context.Context, ev *keptn.TaskEvent) (Outcome, error) {
	var out Outcome
	if ev.Kind != keptn.KindTriggered {
		return out, nil
	}
	if rec, err := h.givenUp(ctx, ev); err != nil || rec != nil {
		// Its errored .finished may still be owed.
		if rec != nil {
			err = h.settle(ctx, []*batchv1.Job{rec}, nil)
		}
		return out, err
	}
	loader := h.loader(ev)
	if loader == nil {
		return out, nil
	}
	cfg, err := loader.Load(ctx, ev)
	var invalid jobconfig.ErrorList
	switch {
	case errors.Is(err, ErrNoConfig):
		h.Log.InfoContext(ctx, "no job config; ignoring event", "reason", err.Error())
		return out, nil
	case errors.As(err, &invalid):
		return h.invalidConfig(ctx, ev, cfg, invalid)
	case err != nil && h.expired(ev):
		return h.giveUpEvent(ctx, ev, err)
	case err != nil:
		// Whatever Keptn answered, the task still waits for us; past
		// RETRY_WINDOW it is given up above (docs/design.md, "Retry").
		return out, owed(err)
	}

	matches, unread := cfg.MatchEvent(ev.Type, jobconfig.NewEventReader(ctx, ev.Document()))
	if len(unread) > 0 {
		// A filter over its budget does not match; the config's author
		// reads why in the log.
		h.Log.WarnContext(ctx, "jsonpath filters not evaluated", "errors", unread.Error())
	}
	out.Matched = len(matches)
	if len(matches) == 0 {
		h.Log.InfoContext(ctx, "no action matches", "config", cfg.File)
		return out, nil
	}
	sibs, err := siblingsAnnotation(cfg, matches, ev, h.Settings)
	if err != nil {
		return out, err
	}
	// Every .started goes out before any .finished of this event
	// (reporter.AnnotationSiblings): records of actions that cannot run are
	// created and started here, and finished in settle once no action is
	// left to start.
	var errs []error
	var pending []*batchv1.Job
	var started []actionResult
	for _, i := range matches {
		r := h.action(ctx, cfg, i, ev, sibs)
		pending = appendJob(pending, r.pending)
		if r.started != nil {
			started = append(started, r)
		}
		out.Created += b2i(r.created)
		out.Existing += b2i(r.existing)
		out.Invalid += b2i(r.invalid)
		errs = append(errs, r.err)
	}
	err = errors.Join(errs...)
	if err == nil && len(pending) == 0 && h.Background.Go(ctx, func(ctx context.Context) { h.recordAndSettle(ctx, started) }) {
		// Every .started is out: what is left is ours, not the broker's
		// (Background).
		return out, nil
	}
	recorded, rerrs := record(started, func(rec *reporter.Record) (*batchv1.Job, error) {
		job, err := rec.Write(ctx)
		return job, h.responseErr(ctx, err)
	})
	if err = errors.Join(append(rerrs, err)...); err != nil {
		return out, err
	}
	return out, h.settle(ctx, pending, recorded)
}

// record writes the records of the .started sent for started with write
// and returns the Jobs as those writes left them, and the failures. Before
// the answer a failure makes it a 5xx, as it always did; the redelivery
// finds the creator's claim and waits for it (ensureStarted).
func record(started []actionResult, write func(*reporter.Record) (*batchv1.Job, error)) ([]*batchv1.Job, []error) {
	var out []*batchv1.Job
	var errs []error
	for _, r := range started {
		job := r.started
		if r.record != nil {
			var err error
			if job, err = write(r.record); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		out = append(out, job)
	}
	return out, errs
}

// recordAndSettle is record and settle after the answer. A record is
// written again while it fails for a reason that may pass; one that is
// never written lets the sweep send .started again once the claim
// expires, so it is logged as an error.
func (h *Handler) recordAndSettle(ctx context.Context, started []actionResult) {
	recorded, errs := record(started, func(rec *reporter.Record) (*batchv1.Job, error) {
		var job *batchv1.Job
		err := retry.OnError(recordBackoff, mayPass, func() error {
			var err error
			job, err = rec.Write(ctx)
			return err
		})
		return job, err
	})
	for _, err := range errs {
		h.Log.ErrorContext(ctx, "recording .started: it will be sent again when the claim expires", "error", err.Error())
	}
	// Its errors are logged in settle: the Jobs' reports are the watch's
	// and the sweep's too.
	_ = h.settle(ctx, nil, recorded)
}

// recordBackoff spaces the attempts at a record after the answer: five in
// about 8 s, well inside the claim's TTL.
var recordBackoff = wait.Backoff{Steps: 5, Duration: 200 * time.Millisecond, Factor: 3, Jitter: 0.1}

// mayPass tells a failure worth another attempt: not a Job that is gone
// or was replaced (its UID changed).
func mayPass(err error) bool {
	return !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err)
}

func appendJob(list []*batchv1.Job, job *batchv1.Job) []*batchv1.Job {
	if job == nil {
		return list
	}
	return append(list, job)
}

// build admits action i under the policy, builds its Job from the
// admitted config (plugins resolved, verified images pinned) and checks the
// Job against the hard rules.
func (h *Handler) build(ctx context.Context, cfg *jobconfig.Config, i int, ev *keptn.TaskEvent) (*batchv1.Job, error) {
	return h.policy().Build(ctx, cfg, i, ev, h.Settings)
}

// defaultPolicy is what a Handler without a Policy applies.
var defaultPolicy = policy.Default()

func (h *Handler) policy() *policy.Policy {
	if h.Policy == nil {
		return defaultPolicy
	}
	return h.Policy
}

// invalidConfig tells Keptn about a config that does not validate: a
// log.error always (Keptn's UI shows it), and for each action that would have
// matched, a .started and an errored .finished with that action's errors,
// so the sequence does not hang waiting for us.
func (h *Handler) invalidConfig(ctx context.Context, ev *keptn.TaskEvent, cfg *jobconfig.Config, list jobconfig.ErrorList) (Outcome, error) {
	var out Outcome
	h.Log.WarnContext(ctx, "invalid job config", "errors", list.Error())
	var errs []error
	if !ev.Generic {
		// Keptn shows log.error in its UI; a generic event's sender hears
		// of the config in the errored result of each action that matches.
		if err := h.logError(ctx, ev, list); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg == nil {
		return out, errors.Join(errs...)
	}
	matches := cfg.Match(ev.Type, ev.Document())
	sibs, err := siblingsAnnotation(cfg, matches, ev, h.Settings)
	if err != nil {
		return out, errors.Join(append(errs, err)...)
	}
	var pending []*batchv1.Job
	for _, i := range matches {
		out.Matched++
		out.Invalid++
		actionErrs := list.ForAction(i)
		if len(actionErrs) == 0 {
			actionErrs = list
		}
		r := h.refuse(ctx, ev, i, cfg.Actions[i].Name, actionNamespace(cfg, i, h.Settings), "invalid job config:\n"+actionErrs.Error(), sibs)
		pending = appendJob(pending, r.pending)
		errs = append(errs, r.err)
	}
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	return out, h.settle(ctx, pending, nil)
}

// logError sends Keptn a log.error about ev's invalid config; only a
// failure worth a retry is returned.
func (h *Handler) logError(ctx context.Context, ev *keptn.TaskEvent, list jobconfig.ErrorList) error {
	msg := "invalid job config:\n" + list.Error()
	logEv, err := keptn.LogErrorEvent(h.Responses.Source, reporter.LogErrorID(ev), keptn.OriginOf(ev), h.Integration, msg, time.Now())
	if err != nil {
		return err
	}
	if err := h.Sink.Send(ctx, logEv); err != nil && !permanent.Is(err) {
		return err
	}
	return nil
}

// fail records an action that cannot run as a suspended record Job and
// sends its .started, exactly once. Its errored .finished is sent by
// settle (finishRecord), once every sibling's .started is out.
func (h *Handler) fail(ctx context.Context, ev *keptn.TaskEvent, actionIndex int, actionName, message, sibs string) (*batchv1.Job, error) {
	rec, err := jobs.Record(ev, actionIndex, actionName, message, h.Settings)
	if err != nil {
		return nil, err
	}
	ctx = logctx.With(ctx, "job", rec.Namespace+"/"+rec.Name)
	if _, _, err := h.run(ctx, withSiblings(rec, sibs)); err != nil {
		if errors.Is(err, errRefused) {
			// The record carries nothing but bounded fields, so this is
			// the operator's setup (say, our own namespace is gone): no
			// redelivery can change it, and a 400 keeps the event from
			// cycling to the dead letter.
			return nil, permanent.New(err)
		}
		return nil, err
	}
	return rec, nil
}

// run creates job (tolerating AlreadyExists) and makes sure its .started
// went out and is recorded. It returns the Job as the write that recorded
// .started left it (or as read, when another attempt recorded it), and
// whether this call created the Job.
func (h *Handler) run(ctx context.Context, job *batchv1.Job) (*batchv1.Job, bool, error) {
	started, rec, created, err := h.start(ctx, job)
	if err != nil || rec == nil {
		return started, created, err
	}
	started, err = rec.Write(ctx)
	return started, created, h.responseErr(ctx, err)
}

// start is run that leaves the record of a .started it sent to the caller:
// a Job it created comes back as it was when .started went out, with the
// write that records it (nil when there is none to make).
func (h *Handler) start(ctx context.Context, job *batchv1.Job) (*batchv1.Job, *reporter.Record, bool, error) {
	ctx = logctx.With(ctx, "job", job.Namespace+"/"+job.Name)
	silent := job.Annotations[jobs.AnnotationSilent] == "true"
	holder := h.Responses.NewHolder()
	if !silent {
		// The creator holds the .started claim from the first instant, so a
		// concurrent duplicate delivery never sends a second .started.
		job.Annotations[jobs.AnnotationStartClaim] = claim.Value(holder, time.Now().Add(h.Responses.ClaimTTL))
	}
	client := h.Jobs(job.Namespace)
	created, err := client.Create(ctx, job, metav1.CreateOptions{})
	switch {
	case err == nil:
		h.Log.InfoContext(ctx, "created job")
		if h.Observer != nil {
			h.Observer.Created(ctx, created)
		}
		started, rec, err := h.Responses.SendStarted(ctx, created, holder)
		return started, rec, true, h.responseErr(ctx, err)
	case apierrors.IsAlreadyExists(err):
		existing, err := client.Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, false, fmt.Errorf("reading existing job %s/%s: %w", job.Namespace, job.Name, err)
		}
		if existing.Annotations[jobs.AnnotationWaiting] != "" {
			// An earlier delivery left a placeholder: the caller resumes.
			return nil, nil, false, &waitingError{job: existing}
		}
		started, err := h.ensureStarted(ctx, existing)
		return started, nil, false, err
	case jobs.RefusedForGood(err):
		// The API server refuses this Job for good (a bad field, a namespace
		// we may not use, too large to store): say so to Keptn rather than
		// retry forever.
		return nil, nil, false, fmt.Errorf("%w: creating job %s/%s: %w", errRefused, job.Namespace, job.Name, err)
	default:
		return nil, nil, false, fmt.Errorf("%w: %s/%s: %w", errCreate, job.Namespace, job.Name, err)
	}
}

// ensureStarted handles a redelivery: the Job exists, and its .started was
// sent, is being sent by another replica (wait a little), or was never sent
// because its creator crashed (claim expired: take it and send). It
// returns the Job as last read or written.
func (h *Handler) ensureStarted(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	if job.Annotations[jobs.AnnotationSilent] == "true" {
		return job, nil
	}
	deadline := time.Now().Add(h.BusyWait)
	for {
		j, err := h.Responses.Started(ctx, job)
		if !errors.Is(err, reporter.ErrBusy) || time.Now().After(deadline) {
			return j, h.responseErr(ctx, err)
		}
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		fresh, gerr := h.Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if gerr != nil {
			return job, gerr
		}
		job = fresh
	}
}

// responseErr classifies a failure to send a response. Busy and
// send failures are worth a broker retry; a refusal by Keptn (4xx) is not
// made better by retrying the triggered event, but the response is still
// owed, so it is retried too and logged loudly.
func (h *Handler) responseErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if permanent.Is(err) {
		h.Log.ErrorContext(ctx, "Keptn refused a response; it will be retried", "error", err.Error())
	}
	return owed(err)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isUnavailable(err error) bool { return policy.IsUnavailable(err) }
