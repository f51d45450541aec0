// Package function is the Knative function (kn func's instanced form: New,
// Handle, Start, Stop, Ready, Alive). It decodes, routes by event type and
// answers; the work is done in pkg/.
package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/launch"
	"github.com/keptn-sandbox/job-executor-knative/pkg/logctx"
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry"
	"github.com/keptn-sandbox/job-executor-knative/pkg/wake"
)

// Function handles Keptn task events and Job status events.
type Function struct {
	log      *slog.Logger
	launcher *launch.Handler
	reporter *reporter.Reconciler
	metrics  *telemetry.Metrics
	events   *telemetry.JobEvents
	// wake arms and disarms the sweep's PingSource (nil: not ours to).
	wake *wake.Switch
	// generic: GENERIC_CONFIG_DIR is set (generic.go).
	generic bool
	ready   atomic.Bool
}

// errNotStarted answers events that arrive before Start finished: a
// redelivery finds the function ready.
var errNotStarted = errors.New("function is not started")

// New returns an unstarted Function; Start wires it from the environment.
func New() *Function {
	return &Function{log: slog.New(logctx.NewHandler(slog.NewJSONHandler(os.Stderr, nil)))}
}

// Handle routes one event. Errors are *cehttp.Result values whose status
// the server answers with: 400 is final, 5xx makes the broker retry.
func (f *Function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	if !f.ready.Load() {
		return nil, answer(errNotStarted)
	}
	// Every line logged while handling e names it (pkg/logctx).
	ctx = logctx.With(ctx, "event_id", logctx.Value(e.ID()), "event_type", logctx.Value(e.Type()), "event_source", logctx.Value(e.Source()))
	log := f.log
	switch {
	case keptn.IsSequenceType(e.Type()):
		// Sequence-level events match the Trigger's filters but are the
		// shipyard-controller's own: 202, so they never reach the dead letter.
		log.DebugContext(ctx, "ignoring sequence-level event")
		f.metrics.Event(ctx, e.Type(), outcomeIgnored)
		return nil, nil
	case keptn.IsTriggeredType(e.Type()):
		ev, err := keptn.ParseTaskEvent(e)
		if err != nil {
			log.WarnContext(ctx, "refusing malformed event", "error", errString(err))
			f.metrics.Event(ctx, e.Type(), outcomeMalformed)
			// No redelivery makes a malformed event well-formed.
			return nil, answer(permanent.New(err))
		}
		ctx = logctx.With(ctx, "shkeptncontext", ev.Context, "project", ev.Project, "stage", ev.Stage, "service", ev.Service)
		out, err := f.launcher.Handle(ctx, ev)
		log.InfoContext(ctx, "handled triggered event", "matched", out.Matched, "created", out.Created, "existing", out.Existing, "invalid", out.Invalid, "error", errString(err))
		f.metrics.Event(ctx, e.Type(), triggeredOutcome(out, err))
		return nil, answer(err)
	case strings.HasPrefix(e.Type(), reporter.EventPrefix):
		err := f.reporter.HandleEvent(ctx, e)
		if err != nil {
			log.WarnContext(ctx, "job status event", "subject", logctx.Value(e.Subject()), "error", errString(err))
		}
		res := answer(err)
		f.metrics.Event(ctx, e.Type(), errorOutcome(res))
		return nil, res
	case e.Type() == reporter.EventPing:
		st, err := f.reporter.Sweep(ctx)
		returnSweepMemory(st)
		idle, werr := f.settleSweep(ctx, st, err)
		log.InfoContext(ctx, "sweep", "scanned", st.Scanned, "started", st.Started, "stopped", st.Stopped,
			"reported", st.Reported, "busy", st.Busy, "deleted", st.Deleted, "errors", st.Errors,
			"pending", st.Pending, "idle", idle, "skipped", st.Skipped, "duration", st.Duration.String(),
			"error", errString(err), "wake_error", errString(werr))
		switch {
		case err != nil:
			// Listing failed; the next tick tries again, but a 5xx makes
			// the broker retry this one sooner.
			f.metrics.Event(ctx, e.Type(), outcomeRetry)
			return nil, answer(err)
		case st.Skipped:
			f.metrics.Event(ctx, e.Type(), outcomeSkipped)
		default:
			f.metrics.Event(ctx, e.Type(), outcomeHandled)
			f.metrics.Sweep(ctx, st.Duration)
		}
		return nil, nil
	case f.generic && generic.Accepts(e.Type(), e.Extensions()):
		return nil, f.handleGeneric(ctx, e)
	default:
		log.DebugContext(ctx, "ignoring event type")
		f.metrics.Event(ctx, e.Type(), outcomeIgnored)
		return nil, nil
	}
}

// bigSweep is the number of Jobs scanned from which a sweep gives its
// memory back to the system at once.
const bigSweep = 500

// freeOSMemory is debug.FreeOSMemory; tests count its calls.
var freeOSMemory = debug.FreeOSMemory

// returnSweepMemory gives the pages a big sweep decoded back to the
// system. Between ticks the function is idle, and Go's background
// scavenger returns them only over minutes: after sweeps of 1,000 Jobs the
// resident set stayed 20 MiB above idle (docs/benchmarks.md, "Many running
// Jobs"). The forced collection costs milliseconds once per tick.
func returnSweepMemory(st reporter.SweepStats) {
	if st.Scanned >= bigSweep {
		freeOSMemory()
	}
}

// settleSweep arms the sweep while Jobs are unreported and disarms it once
// none are. A sweep that failed or was skipped knows nothing and changes
// nothing. It reports whether the sweep is idle now.
func (f *Function) settleSweep(ctx context.Context, st reporter.SweepStats, err error) (bool, error) {
	if f.wake == nil || err != nil || st.Skipped {
		// The sweep's own error is answered by the caller; here it only
		// means the switch must not move.
		return false, nil //nolint:nilerr // the sweep's error is the caller's to answer
	}
	if st.Pending > 0 {
		_, err := f.wake.EnsureArmed(ctx)
		return false, err
	}
	return f.wake.Disarm(ctx, f.reporter.Unreported)
}

// answer is the one mapping from a handler's error to what the Broker or a
// source hears (pkg/permanent.Status): nil → 2xx, permanent → 400 (final),
// any other → 503 (redelivered with back-off; an error nobody marked is
// retried, because a lost .finished hangs a sequence).
func answer(err error) error {
	if err == nil {
		return nil
	}
	return cehttp.NewResult(permanent.Status(err), "%s", errString(err))
}

// errString bounds an error in a log line or an answer: it may quote an
// API server's message about a value taken from the event.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return logctx.Clip(err.Error(), maxErrorBytes)
}

const maxErrorBytes = 4 << 10

// Ready reports whether Start completed.
func (f *Function) Ready(context.Context) (bool, error) { return f.ready.Load(), nil }

// Alive reports that the process serves.
func (f *Function) Alive(context.Context) (bool, error) { return true, nil }

// Stop marks the function not ready; in-flight requests finish in the
// server's graceful shutdown, and the records of .started written after
// their answers (launch.Background) are waited for, up to ctx or
// stopWait.
func (f *Function) Stop(ctx context.Context) error {
	f.ready.Store(false)
	var err error
	if f.launcher != nil {
		wctx, cancel := context.WithTimeout(ctx, stopWait)
		if err = f.launcher.Background.Wait(wctx); err != nil {
			err = fmt.Errorf("records of .started still being written: %w", err)
		}
		cancel()
	}
	return errors.Join(err, f.stopTelemetry(ctx))
}

// stopWait bounds Stop's wait for the records of .started: well inside
// Kubernetes' default termination grace period (30 s), after the server's
// own graceful shutdown.
const stopWait = 5 * time.Second
