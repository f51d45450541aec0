// Package generic is the mode for CloudEvents that are not Keptn's: any
// event the operator routes to the function runs the actions of the
// operator's job config, and its result goes back as one CloudEvent
// (docs/generic.md). It reads such an event into the form the Job builder
// takes and composes the result event; the claims, the watch and the sweep
// are the Keptn mode's.
package generic

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/logctx"
)

// MaxEventBytes bounds a generic event as structured JSON. The event
// travels to the fetcher in an environment variable of the Job's pod
// spec, which etcd stores whole (its 1.5 MiB request limit holds every
// container, all annotations and the status); 64 KiB leaves room for the
// rest and matches Keptn's own event limit.
const MaxEventBytes = 64 << 10

// Extensions of the result event that link it to the triggering event.
// A delivery carrying ExtTriggerID is a result of ours and never starts a
// Job, so a Trigger whose filter is wider than meant cannot make a loop.
const (
	ExtTriggerID     = "jobtriggerid"
	ExtTriggerSource = "jobtriggersource"
	ExtTriggerType   = "jobtriggertype"
)

// DefaultResultType is the result event's type unless the operator sets
// GENERIC_RESULT_TYPE.
const DefaultResultType = "dev.jobexecutor.job.finished"

// reservedPrefixes are types that are never generic: Keptn's (the Keptn
// mode), Knative's sources (the watch and the sweep) and our own results.
var reservedPrefixes = []string{keptn.TypeNamespace, "dev.knative.", "dev.jobexecutor."}

// Accepts reports whether an event of type typ with extensions ext is a
// generic trigger: not reserved, not a result of ours.
func Accepts(typ string, ext map[string]any) bool {
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(typ, p) {
			return false
		}
	}
	_, result := ext[ExtTriggerID]
	return !result
}

// Parse reads a generic event. Every error wraps keptn.ErrMalformed (the
// caller answers 400) and names the attribute at fault.
func Parse(ce event.Event) (*keptn.TaskEvent, error) {
	if err := ce.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", keptn.ErrMalformed, err)
	}
	for _, a := range []struct{ name, v string }{
		{"id", ce.ID()}, {"type", ce.Type()}, {"source", ce.Source()}, {"subject", ce.Subject()},
	} {
		if len(a.v) > keptn.MaxAttributeBytes {
			return nil, fmt.Errorf("%w: attribute %s is %d bytes; at most %d are accepted", keptn.ErrMalformed, a.name, len(a.v), keptn.MaxAttributeBytes)
		}
		if !utf8.ValidString(a.v) {
			// JSON would replace the bad bytes: the Job's annotations and
			// the event file would name another event.
			return nil, fmt.Errorf("%w: attribute %s is not UTF-8", keptn.ErrMalformed, a.name)
		}
	}
	raw, err := json.Marshal(ce)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding the event: %w", keptn.ErrMalformed, err)
	}
	if len(raw) > MaxEventBytes {
		return nil, fmt.Errorf("%w: the event is %d bytes as structured JSON; at most %d are accepted (it reaches the task in the Job's pod spec)", keptn.ErrMalformed, len(raw), MaxEventBytes)
	}
	doc, err := document(raw)
	if err != nil {
		return nil, err
	}
	trace, _ := ce.Extensions()["traceparent"].(string)
	return &keptn.TaskEvent{
		ID:          ce.ID(),
		Type:        ce.Type(),
		Kind:        keptn.KindTriggered,
		Source:      ce.Source(),
		Time:        ce.Time(),
		TraceParent: logctx.Clip(trace, keptn.MaxAttributeBytes),
		Generic:     true,
		Whole:       doc,
		Raw:         raw,
	}, nil
}

// document is the event as its structured JSON reads: attributes and
// extensions at the top, data as JSON when its content type is JSON (a
// string when it is text, data_base64 when it is binary), so `$.subject`
// and `$.data.x` both work.
func document(raw []byte) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%w: decoding the event: %w", keptn.ErrMalformed, err)
	}
	// The SDK writes text as data_base64; filters want to read it.
	ct, _ := doc["datacontenttype"].(string)
	if b64, ok := doc["data_base64"].(string); ok && strings.HasPrefix(ct, "text/") {
		if text, err := base64.StdEncoding.DecodeString(b64); err == nil && utf8.Valid(text) {
			doc["data"] = string(text)
		}
	}
	return doc, nil
}

// Result is what the result event says; the reporter reads it from the
// Job's annotations and the verdict.
type Result struct {
	Type, Source, ID string
	// Subject names the Job: namespace/name.
	Subject string
	// The triggering event.
	TriggerID, TriggerSource, TriggerType string
	Status, Outcome, Message              string
	// Tasks are the per-task lines (exit codes, reasons).
	Tasks any
	// Results are the tasks' structured results (termination messages),
	// by task name.
	Results map[string]any
	// TraceParent continues the triggering event's trace.
	TraceParent string
	Time        time.Time
}

// ResultEvent is the CloudEvent of r.
func ResultEvent(r Result) (event.Event, error) {
	ev := event.New()
	ev.SetID(r.ID)
	ev.SetType(cmp.Or(r.Type, DefaultResultType))
	ev.SetSource(r.Source)
	ev.SetSubject(r.Subject)
	ev.SetTime(r.Time.UTC())
	ev.SetExtension(ExtTriggerID, r.TriggerID)
	ev.SetExtension(ExtTriggerSource, r.TriggerSource)
	ev.SetExtension(ExtTriggerType, r.TriggerType)
	if r.TraceParent != "" {
		ev.SetExtension("traceparent", r.TraceParent)
	}
	data := map[string]any{
		"status":  r.Status,
		"result":  r.Outcome,
		"message": r.Message,
		"job":     r.Subject,
	}
	if r.Tasks != nil {
		data["tasks"] = r.Tasks
	}
	if len(r.Results) > 0 {
		data["results"] = maps.Clone(r.Results)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return ev, fmt.Errorf("encoding the result event's data: %w", err)
	}
	if err := ev.SetData(event.ApplicationJSON, json.RawMessage(raw)); err != nil {
		return ev, fmt.Errorf("setting the result event's data: %w", err)
	}
	return ev, nil
}

// ResultType is the result event's type for a trigger of type trigger:
// setting, with "{type}" replaced by the trigger's type (so
// "{type}.finished" answers com.example.build with
// com.example.build.finished).
func ResultType(setting, trigger string) string {
	return strings.ReplaceAll(cmp.Or(setting, DefaultResultType), "{type}", trigger)
}
