package keptn

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	keptnv2 "github.com/keptn/go-utils/pkg/lib/v0_2_0"

	"github.com/keptn-sandbox/job-executor-knative/pkg/logctx"
)

// CloudEvent extension attributes Keptn uses.
const (
	ExtContext     = "shkeptncontext"
	ExtTriggeredID = "triggeredid"
	ExtGitCommitID = "gitcommitid"
	ExtSpecVersion = "shkeptnspecversion"
	// SpecVersion is what go-utils v0.20.4 stamps on the events it creates.
	SpecVersion = "0.2.4"
)

// TypeNamespace starts every Keptn event type. This package and go-utils
// are the places that spell Keptn's event types (design_test.go checks
// it); go-utils keeps its "sh.keptn.event." prefix unexported, and its
// helpers match a suffix or a count of parts without it, so the prefix
// test is ours.
const TypeNamespace = "sh.keptn."

const typePrefix = TypeNamespace + "event."

// Event kinds of a task event type sh.keptn.event.<task>.<kind>.
const (
	KindTriggered = "triggered"
	KindStarted   = "started"
	KindFinished  = "finished"
)

// LogErrorType is Keptn's general-purpose error log event.
const LogErrorType = TypeNamespace + "log.error"

// Bounds on what an event carries into a Job's annotations and into every
// response: Keptn's own ids are UUIDs and its labels a few short pairs. A
// larger value cannot be stored (Kubernetes refuses annotations over 256 KB
// in all) nor echoed in a .finished Keptn accepts (64 KB), so such an event
// is refused at once (400) instead of failing on every redelivery.
const (
	MaxAttributeBytes = 512
	MaxLabelsBytes    = 16 << 10
)

// ErrMalformed marks events that can never be processed, whatever is retried:
// callers answer 400 so the broker does not redeliver them.
var ErrMalformed = errors.New("malformed Keptn event")

// ParseTaskType splits sh.keptn.event.<task>.<kind>. A task event type has
// exactly five dot-separated parts (go-utils ParseTaskEventType), so task
// names never contain dots.
func ParseTaskType(t string) (task, kind string, ok bool) {
	if !strings.HasPrefix(t, typePrefix) {
		return "", "", false
	}
	task, kind, err := keptnv2.ParseTaskEventType(t)
	return task, kind, err == nil
}

// TaskType builds sh.keptn.event.<task>.<kind>: go-utils' spelling for the
// three kinds this service receives and sends.
func TaskType(task, kind string) string {
	switch kind {
	case KindTriggered:
		return keptnv2.GetTriggeredEventType(task)
	case KindStarted:
		return keptnv2.GetStartedEventType(task)
	case KindFinished:
		return keptnv2.GetFinishedEventType(task)
	}
	return typePrefix + task + "." + kind
}

// IsTriggeredType reports whether t is sh.keptn.event.….triggered: what
// starts work here. Sequence-level types match too (IsSequenceType tells
// them apart); anything else that matches but is not a task type is
// malformed (ParseTaskEvent says why).
func IsTriggeredType(t string) bool {
	return strings.HasPrefix(t, typePrefix) && keptnv2.IsTriggeredEventType(t)
}

// TaskEvent is an incoming Keptn task event, reduced to what this service
// needs, plus the JES-style document that jsonpath filters and env values are
// evaluated against.
type TaskEvent struct {
	ID          string
	Type        string
	Task        string
	Kind        string
	Source      string
	Time        time.Time
	Context     string // shkeptncontext
	TriggeredID string
	GitCommitID string
	Project     string
	Stage       string
	Service     string
	Labels      map[string]string
	// Data is the event's data object as decoded JSON.
	Data map[string]any
	// TraceParent is the W3C trace context carried by the event, if any.
	TraceParent string
	// Generic is an event that is not Keptn's (pkg/generic): its Job runs
	// from the operator's config and its result goes out as a CloudEvent.
	Generic bool
	// Whole is a generic event's document: every attribute, extension and
	// the data, as filters and env values read it.
	Whole map[string]any
	// Raw is a generic event in CloudEvents' structured JSON, the file the
	// tasks read (jobs.EventFile).
	Raw []byte
}

// Document is the event as the generic map JES evaluated jsonpath against
// (keys id, shkeptncontext, time, source, data, specversion, type,
// gitcommitid), so `$.data.…` paths written for JES keep working. Unlike JES,
// source and type are plain strings, so filters on them compare as expected.
func (e *TaskEvent) Document() map[string]any {
	if e.Whole != nil {
		return e.Whole
	}
	doc := map[string]any{
		"id":             e.ID,
		"shkeptncontext": e.Context,
		"source":         e.Source,
		"specversion":    "1.0",
		"type":           e.Type,
		"gitcommitid":    e.GitCommitID,
		"data":           e.Data,
	}
	if !e.Time.IsZero() {
		doc["time"] = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if e.TriggeredID != "" {
		doc["triggeredid"] = e.TriggeredID
	}
	return doc
}

// ParseTaskEvent reads a Keptn task event. Every error wraps ErrMalformed and
// names the attribute or field at fault.
func ParseTaskEvent(ce event.Event) (*TaskEvent, error) {
	if err := ce.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	task, kind, ok := ParseTaskType(ce.Type())
	if !ok {
		return nil, fmt.Errorf("%w: type %q is not sh.keptn.event.<task>.<kind>", ErrMalformed, clip(ce.Type()))
	}
	ev := &TaskEvent{
		ID:     ce.ID(),
		Type:   ce.Type(),
		Task:   task,
		Kind:   kind,
		Source: ce.Source(),
		Time:   ce.Time(),
	}
	ext := ce.Extensions()
	ev.Context = stringExt(ext, ExtContext)
	ev.TriggeredID = stringExt(ext, ExtTriggeredID)
	ev.GitCommitID = stringExt(ext, ExtGitCommitID)
	ev.TraceParent = stringExt(ext, "traceparent")
	if ev.Context == "" {
		return nil, fmt.Errorf("%w: extension %s is missing", ErrMalformed, ExtContext)
	}
	for _, a := range []struct{ name, v string }{
		{"id", ev.ID}, {"type", ev.Type}, {"source", ev.Source}, {ExtContext, ev.Context},
		{ExtTriggeredID, ev.TriggeredID}, {ExtGitCommitID, ev.GitCommitID}, {"traceparent", ev.TraceParent},
	} {
		if len(a.v) > MaxAttributeBytes {
			return nil, fmt.Errorf("%w: attribute %s is %d bytes; at most %d are accepted", ErrMalformed, a.name, len(a.v), MaxAttributeBytes)
		}
	}
	if ct := ce.DataContentType(); ct != "" && !strings.Contains(ct, "json") {
		return nil, fmt.Errorf("%w: datacontenttype %q is not JSON", ErrMalformed, ct)
	}
	if len(ce.Data()) == 0 {
		return nil, fmt.Errorf("%w: data is empty, want an object with project, stage and service", ErrMalformed)
	}
	if err := json.Unmarshal(ce.Data(), &ev.Data); err != nil || ev.Data == nil {
		return nil, fmt.Errorf("%w: data is not a JSON object", ErrMalformed)
	}
	// go-utils' EventData, as Keptn's services decode it: a status, result
	// or message that is not a string is refused here as it is there.
	var fields keptnv2.EventData
	if err := json.Unmarshal(ce.Data(), &fields); err != nil {
		return nil, fmt.Errorf("%w: data: %w", ErrMalformed, err)
	}
	for name, v := range map[string]string{"project": fields.Project, "stage": fields.Stage, "service": fields.Service} {
		if v == "" {
			return nil, fmt.Errorf("%w: data.%s is missing", ErrMalformed, name)
		}
		if !validScopeName(v) {
			return nil, fmt.Errorf("%w: data.%s %q is not a Keptn name", ErrMalformed, name, v)
		}
	}
	b, err := json.Marshal(fields.Labels)
	if err != nil {
		return nil, fmt.Errorf("%w: data.labels: %w", ErrMalformed, err)
	}
	if len(b) > MaxLabelsBytes {
		return nil, fmt.Errorf("%w: data.labels is %d bytes of JSON; at most %d are accepted", ErrMalformed, len(b), MaxLabelsBytes)
	}
	ev.Project, ev.Stage, ev.Service, ev.Labels = fields.Project, fields.Stage, fields.Service, fields.Labels
	return ev, nil
}

// clip keeps an attribute quoted in an error short: the error becomes a
// log line and the answer's body.
func clip(s string) string { return logctx.Value(s) }

// validScopeName keeps project, stage and service names to what Keptn itself
// allows (lower-case DNS-like names), which also keeps them safe in URLs,
// labels and file paths.
func validScopeName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_' || r == '.') && i > 0:
		case r >= 'A' && r <= 'Z':
		default:
			return false
		}
	}
	return s != ""
}

func stringExt(ext map[string]any, name string) string {
	v, ok := ext[name]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}
