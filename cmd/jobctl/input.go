package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/serve"
)

func readInput(stdin io.Reader, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}

func inputName(path string) string {
	if path == "-" {
		return "<stdin>"
	}
	return path
}

// parseEventFile reads a structured-mode CloudEvent and applies the
// function's checks in the function's order: the body limit, then only
// .triggered task events are routed (others are ignored with 200), then
// keptn.ParseTaskEvent; an event of any other type goes to the generic
// mode (generic.Parse).
func parseEventFile(name string, raw []byte) (*keptn.TaskEvent, error) {
	if len(raw) > serve.MaxBodyBytes {
		return nil, fmt.Errorf("%s: the function refuses events over %d bytes (413)", name, serve.MaxBodyBytes)
	}
	var ce event.Event
	if err := json.Unmarshal(raw, &ce); err != nil {
		return nil, fmt.Errorf("%s: not a CloudEvent in structured JSON: %w", name, err)
	}
	if generic.Accepts(ce.Type(), ce.Extensions()) {
		ev, err := generic.Parse(ce)
		if err != nil {
			return nil, fmt.Errorf("%s: the function answers 400 (when its generic mode is on): %s", name, strings.TrimSpace(err.Error()))
		}
		return ev, nil
	}
	if !keptn.IsTriggeredType(ce.Type()) {
		return nil, fmt.Errorf("%s: the function ignores events of type %q: only %s starts tasks", name, ce.Type(), keptn.TaskType("<task>", keptn.KindTriggered))
	}
	ev, err := keptn.ParseTaskEvent(ce)
	if err != nil {
		hint := ""
		if ce.ID() == "" || ce.Extensions()[keptn.ExtContext] == nil {
			hint = " (Keptn's API adds id and shkeptncontext to events sent to it; 'jobctl event' writes complete ones)"
		}
		// sdk-go's validation messages end in a newline.
		return nil, fmt.Errorf("%s: the function answers 400: %s%s", name, strings.TrimSpace(err.Error()), hint)
	}
	return ev, nil
}
