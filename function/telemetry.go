package function

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/keptn-sandbox/job-executor-knative/pkg/launch"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry"
)

// Outcomes of handled events, the "outcome" label of
// job_executor_events_total (docs/observability.md).
const (
	outcomeCreated   = "created"   // Jobs created and .started sent
	outcomeDuplicate = "duplicate" // a redelivery: the Jobs existed
	outcomeIgnored   = "ignored"   // no config, no matching action, not our type
	outcomeInvalid   = "invalid"   // an action could not run; Keptn was told
	outcomeMalformed = "malformed" // answered 400
	outcomeRetry     = "retry"     // answered 503: the broker retries
	outcomeError     = "error"     // an answer that is not a status (the one mapping gives 400 or 503)
	outcomeHandled   = "handled"   // a Job status event or a sweep did its work
	outcomeSkipped   = "skipped"   // a sweep found this replica still sweeping
)

// MetricsHandler serves the function's metrics in Prometheus' format
// (cmd/function serves it on METRICS_PORT at /metrics).
func (f *Function) MetricsHandler() http.Handler { return f.metrics.Handler() }

// observer builds what turns Job transitions into metrics and, unless
// KUBE_EVENTS is false, Kubernetes Events.
func (f *Function) observer(cfg map[string]string, kube *kubeClients) (*telemetry.Observer, error) {
	on, err := strconv.ParseBool(lookup(cfg, "KUBE_EVENTS"))
	if err != nil {
		return nil, fmt.Errorf("KUBE_EVENTS %q: want true or false", lookup(cfg, "KUBE_EVENTS"))
	}
	obs := &telemetry.Observer{Metrics: f.metrics}
	if on {
		if f.events, err = telemetry.NewJobEvents(kube, f.metrics); err != nil {
			return nil, fmt.Errorf("kubernetes events: %w", err)
		}
		obs.Events = f.events
	}
	return obs, nil
}

// stopTelemetry ends the event broadcaster and the meter provider.
func (f *Function) stopTelemetry(ctx context.Context) error {
	f.events.Shutdown()
	return f.metrics.Shutdown(ctx)
}

// triggeredOutcome names what became of a triggered event.
func triggeredOutcome(out launch.Outcome, err error) string {
	switch {
	case err != nil:
		return errorOutcome(answer(err))
	case out.Invalid > 0:
		return outcomeInvalid
	case out.Created > 0:
		return outcomeCreated
	case out.Existing > 0:
		return outcomeDuplicate
	default:
		return outcomeIgnored
	}
}

// errorOutcome names an answer (a *cehttp.Result) by its status: 400 is
// final, 503 is retried by the broker.
func errorOutcome(answer error) string {
	if answer == nil {
		return outcomeHandled
	}
	var res *cehttp.Result
	if !protocol.ResultAs(answer, &res) {
		return outcomeError
	}
	switch res.StatusCode {
	case http.StatusBadRequest:
		return outcomeMalformed
	case http.StatusServiceUnavailable:
		return outcomeRetry
	default:
		return outcomeError
	}
}
