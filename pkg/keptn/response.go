package keptn

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Status and Result values of Keptn's .finished data.
const (
	StatusSucceeded = "succeeded"
	StatusErrored   = "errored"
	ResultPass      = "pass"
	ResultWarning   = "warning"
	ResultFail      = "fail"
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
	return response(TaskType(o.Task, KindStarted), source, id, o, now, nil)
}

// FinishedEvent is sh.keptn.event.<task>.finished for o.
func FinishedEvent(source, id string, o Origin, f Finished, now time.Time) (event.Event, error) {
	data := map[string]any{}
	maps.Copy(data, f.Extra)
	// Extra never overrides what Keptn requires.
	data["status"] = f.Status
	data["result"] = f.Result
	data["message"] = f.Message
	return response(TaskType(o.Task, KindFinished), source, id, o, now, data)
}

// LogErrorEvent is sh.keptn.log.error, Keptn's way to show an integration's
// error in its UI when there is no task to fail.
func LogErrorEvent(source, id string, o Origin, integration, message string, now time.Time) (event.Event, error) {
	data := map[string]any{
		"message":       message,
		"integrationid": integration,
		"task":          o.Task,
	}
	return response(LogErrorType, source, id, o, now, data)
}

func response(typ, source, id string, o Origin, now time.Time, extra map[string]any) (event.Event, error) {
	data := map[string]any{}
	maps.Copy(data, extra)
	data["project"] = o.Project
	data["stage"] = o.Stage
	data["service"] = o.Service
	if len(o.Labels) > 0 {
		data["labels"] = o.Labels
	}
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
	raw, err := json.Marshal(data)
	if err != nil {
		return ev, fmt.Errorf("encoding %s data: %w", typ, err)
	}
	if err := ev.SetData(event.ApplicationJSON, json.RawMessage(raw)); err != nil {
		return ev, fmt.Errorf("setting %s data: %w", typ, err)
	}
	return ev, nil
}
