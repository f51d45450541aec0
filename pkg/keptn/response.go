package keptn

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	keptnv2 "github.com/keptn/go-utils/pkg/lib/v0_2_0"
)

// Status and Result values of Keptn's .finished data, as go-utils spells
// them. They are plain strings here because pkg/verdict ranks and parses
// results as text (a task's own "result" line); FinishedEvent types them.
const (
	StatusSucceeded = string(keptnv2.StatusSucceeded)
	StatusErrored   = string(keptnv2.StatusErrored)
	ResultPass      = string(keptnv2.ResultPass)
	ResultWarning   = string(keptnv2.ResultWarning)
	ResultFail      = string(keptnv2.ResultFailed)
)

// Origin is what every response to a triggered event must repeat. It is
// stored on the Job (labels and annotations), so a response can be built by
// any replica at any time without other state.
type Origin struct {
	Task        string            `json:"task"`
	TriggeredID string            `json:"triggeredid"`
	Context     string            `json:"shkeptncontext"`
	GitCommitID string            `json:"gitcommitid,omitempty"`
	Project     string            `json:"project"`
	Stage       string            `json:"stage"`
	Service     string            `json:"service"`
	Labels      map[string]string `json:"labels,omitempty"`
	TraceParent string            `json:"traceparent,omitempty"`
}

// OriginOf is the Origin of responses to a triggered event.
func OriginOf(e *TaskEvent) Origin {
	return Origin{
		Task:        e.Task,
		TriggeredID: e.ID,
		Context:     e.Context,
		GitCommitID: e.GitCommitID,
		Project:     e.Project,
		Stage:       e.Stage,
		Service:     e.Service,
		Labels:      e.Labels,
		TraceParent: e.TraceParent,
	}
}

// Finished is the outcome carried by a .finished event.
type Finished struct {
	Status  string
	Result  string
	Message string
	// Extra is merged into data at the top level (for example "test" with
	// start and end, or a task's structured result under its name). It never
	// overrides the fields Keptn requires.
	Extra map[string]any
}

// StartedEvent is sh.keptn.event.<task>.started for o.
func StartedEvent(source, id string, o Origin, now time.Time) (event.Event, error) {
	return response(keptnv2.GetStartedEventType(o.Task), source, id, o, now, nil)
}

// FinishedEvent is sh.keptn.event.<task>.finished for o.
func FinishedEvent(source, id string, o Origin, f Finished, now time.Time) (event.Event, error) {
	typ := keptnv2.GetFinishedEventType(o.Task)
	data, err := asMap(keptnv2.EventData{Status: keptnv2.StatusType(f.Status), Result: keptnv2.ResultType(f.Result), Message: f.Message})
	if err != nil {
		return event.Event{}, fmt.Errorf("encoding %s data: %w", typ, err)
	}
	// Extra never speaks for Keptn's fields, even where EventData omits
	// them (an empty message or labels).
	for k, v := range f.Extra {
		if !EventDataKeys[k] {
			data[k] = v
		}
	}
	return response(typ, source, id, o, now, data)
}

// EventDataKeys are the JSON names of keptnv2.EventData's fields: the data
// keys of a response that only Keptn's fields may take.
var EventDataKeys = map[string]bool{
	"project": true, "stage": true, "service": true, "labels": true,
	"status": true, "result": true, "message": true,
}

// LogErrorEvent is sh.keptn.log.error, Keptn's way to show an integration's
// error in its UI when there is no task to fail.
func LogErrorEvent(source, id string, o Origin, integration, message string, now time.Time) (event.Event, error) {
	data, err := asMap(keptnv2.ErrorLogEvent{Message: message, IntegrationID: integration, Task: o.Task})
	if err != nil {
		return event.Event{}, fmt.Errorf("encoding %s data: %w", LogErrorType, err)
	}
	return response(LogErrorType, source, id, o, now, data)
}

// response is an event of type typ answering o, whose data is data with
// o's project, stage, service and labels (go-utils' EventData) over it.
func response(typ, source, id string, o Origin, now time.Time, data map[string]any) (event.Event, error) {
	ev := event.New()
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource(source)
	ev.SetTime(now.UTC())
	ev.SetExtension(ExtContext, o.Context)
	ev.SetExtension(ExtTriggeredID, o.TriggeredID)
	ev.SetExtension(ExtSpecVersion, SpecVersion)
	if o.GitCommitID != "" {
		ev.SetExtension(ExtGitCommitID, o.GitCommitID)
	}
	if o.TraceParent != "" {
		ev.SetExtension("traceparent", o.TraceParent)
	}
	scope, err := asMap(keptnv2.EventData{Project: o.Project, Stage: o.Stage, Service: o.Service, Labels: o.Labels})
	if err != nil {
		return ev, fmt.Errorf("encoding %s data: %w", typ, err)
	}
	if data == nil {
		data = map[string]any{}
	}
	maps.Copy(data, scope)
	// A map, not the struct: its keys come out sorted, as they always have.
	raw, err := json.Marshal(data)
	if err != nil {
		return ev, fmt.Errorf("encoding %s data: %w", typ, err)
	}
	if err := ev.SetData(event.ApplicationJSON, json.RawMessage(raw)); err != nil {
		return ev, fmt.Errorf("setting %s data: %w", typ, err)
	}
	return ev, nil
}

// asMap is v's JSON object as a map of its fields' JSON, so that it can sit
// beside other keys. The fields stay as encoded: decoding them would turn an
// invalid byte's \ufffd escape into the raw rune, and pkg/finished sizes
// messages by encoding/json's own escaping.
func asMap(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	m := make(map[string]any, len(fields))
	for k, f := range fields {
		m[k] = f
	}
	return m, nil
}
