package function

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/launch"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

// genericEnv are the settings of the generic mode (docs/generic.md).
var genericEnv = []envVar{
	{"GENERIC_CONFIG_DIR", "", "turns the generic mode on: a directory mounted from the operator's ConfigMap whose config.yaml (job/config.yaml's format) runs any CloudEvent whose type is not sh.keptn.*, dev.knative.* or dev.jobexecutor.* (docs/generic.md)"},
	{"GENERIC_SINK", "$K_SINK", "where generic Jobs' result events go (a CloudEvents URL: a Broker or any receiver); empty: K_SINK, else the log"},
	{"GENERIC_RESULT_MAX_KB", "64", "the largest result event, as structured JSON; its logs' head and tail are cut to fit"},
}

// wireGeneric turns the generic mode on when GENERIC_CONFIG_DIR is set:
// the launcher reads that config for generic events, and the reporter
// sends their results to GENERIC_SINK within GENERIC_RESULT_MAX_KB.
func (f *Function) wireGeneric(cfg map[string]string, pol *policy.Policy) error {
	dir := lookup(cfg, "GENERIC_CONFIG_DIR")
	if dir == "" {
		return nil
	}
	kb, err := strconv.Atoi(lookup(cfg, "GENERIC_RESULT_MAX_KB"))
	if err != nil || kb < 1 {
		return fmt.Errorf("GENERIC_RESULT_MAX_KB %q: want a positive number of KB", lookup(cfg, "GENERIC_RESULT_MAX_KB"))
	}
	configs, err := launch.NewGenericConfigs(dir, jobconfig.WithLimits(pol.ConfigLimits()))
	if err != nil {
		return fmt.Errorf("GENERIC_CONFIG_DIR: %w", err)
	}
	var out sink.Sender = &sink.Log{W: os.Stdout}
	target := lookup(cfg, "GENERIC_SINK")
	if target == "" {
		target = lookup(cfg, "K_SINK")
	}
	if target != "" {
		if out, err = sink.NewCloudEvents(target, nil); err != nil {
			return fmt.Errorf("GENERIC_SINK: %w", err)
		}
	}
	f.launcher.GenericConfigs = configs
	f.reporter.Sender.GenericSink = out
	f.reporter.Config.GenericMaxEventBytes = kb << 10
	f.generic = true
	return nil
}

// handleGeneric runs a generic event: 400 when it is malformed, else as a
// Keptn task's .triggered.
func (f *Function) handleGeneric(ctx context.Context, e event.Event) error {
	ev, err := generic.Parse(e)
	if err != nil {
		f.log.WarnContext(ctx, "refusing malformed generic event", "error", errString(err))
		f.metrics.Event(ctx, e.Type(), outcomeMalformed)
		return cehttp.NewResult(http.StatusBadRequest, "%s", errString(err))
	}
	out, err := f.launcher.Handle(ctx, ev)
	f.log.InfoContext(ctx, "handled generic event", "matched", out.Matched, "created", out.Created, "existing", out.Existing, "invalid", out.Invalid, "error", errString(err))
	f.metrics.Event(ctx, e.Type(), triggeredOutcome(out, err))
	return answer(err)
}
