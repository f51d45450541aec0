package keptn

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readEvent(t *testing.T, path string) event.Event {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var ev event.Event
	require.NoError(t, json.Unmarshal(raw, &ev))
	return ev
}

func TestParseTaskEventShipyardControllerShape(t *testing.T) {
	ce := readEvent(t, "../../testdata/events/test.triggered.json")
	ev, err := ParseTaskEvent(ce)
	require.NoError(t, err)
	assert.Equal(t, "test", ev.Task)
	assert.Equal(t, KindTriggered, ev.Kind)
	assert.Equal(t, "sockshop", ev.Project)
	assert.Equal(t, "dev", ev.Stage)
	assert.Equal(t, "carts", ev.Service)
	assert.NotEmpty(t, ev.Context)
	assert.NotEmpty(t, ev.GitCommitID)
	doc := ev.Document()
	assert.Equal(t, "health", doc["data"].(map[string]any)["test"].(map[string]any)["teststrategy"])
	assert.Equal(t, "sh.keptn.event.test.triggered", doc["type"], "type is a plain string, so jsonpath filters on it compare")
}

func validEvent() event.Event {
	ce := event.New()
	ce.SetID("id-1")
	ce.SetSource("shipyard-controller")
	ce.SetType("sh.keptn.event.test.triggered")
	ce.SetExtension(ExtContext, "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d")
	_ = ce.SetData(event.ApplicationJSON, map[string]any{"project": "p", "stage": "s", "service": "v", "labels": map[string]string{"k": "v"}})
	return ce
}

func TestParseTaskEventErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*event.Event)
		want   string
	}{
		{"not a task type", func(e *event.Event) { e.SetType("sh.keptn.event.dev.delivery.triggered") }, "not sh.keptn.event.<task>.<kind>"},
		{"foreign type", func(e *event.Event) { e.SetType("com.example.thing") }, "not sh.keptn.event"},
		{"no context", func(e *event.Event) { e.SetExtension(ExtContext, nil) }, "shkeptncontext is missing"},
		{"no data", func(e *event.Event) { e.DataEncoded = nil }, "data is empty"},
		{"data not an object", func(e *event.Event) { _ = e.SetData(event.ApplicationJSON, []int{1}) }, "not a JSON object"},
		{"missing stage", func(e *event.Event) {
			_ = e.SetData(event.ApplicationJSON, map[string]any{"project": "p", "service": "v"})
		}, "data.stage is missing"},
		{"traversal in service", func(e *event.Event) {
			_ = e.SetData(event.ApplicationJSON, map[string]any{"project": "p", "stage": "s", "service": "../etc"})
		}, "not a Keptn name"},
		{"labels not strings", func(e *event.Event) {
			_ = e.SetData(event.ApplicationJSON, map[string]any{"project": "p", "stage": "s", "service": "v", "labels": map[string]any{"a": 1}})
		}, "data:"},
		// Kubernetes would refuse them in the Job's annotations on every
		// redelivery (issue 16 point 5): refused at once, without quoting them.
		{"300 KB id", func(e *event.Event) { e.SetID(strings.Repeat("i", 300<<10)) }, "attribute id is 307200 bytes; at most 512"},
		{"long context", func(e *event.Event) { e.SetExtension(ExtContext, strings.Repeat("c", 513)) }, "attribute shkeptncontext is 513 bytes"},
		{"long source", func(e *event.Event) { e.SetSource(strings.Repeat("s", 600)) }, "attribute source is 600 bytes"},
		{"long triggeredid", func(e *event.Event) { e.SetExtension(ExtTriggeredID, strings.Repeat("t", 600)) }, "attribute triggeredid"},
		{"long type", func(e *event.Event) { e.SetType("sh.keptn.event." + strings.Repeat("t", 600) + ".triggered") }, "attribute type"},
		{"long invalid type is quoted clipped", func(e *event.Event) { e.SetType("sh.keptn.event.a." + strings.Repeat("t", 600<<10) + ".triggered") }, "bytes cut]"},
		{"huge labels", func(e *event.Event) {
			_ = e.SetData(event.ApplicationJSON, map[string]any{"project": "p", "stage": "s", "service": "v", "labels": map[string]string{"k": strings.Repeat("v", 20<<10)}})
		}, "data.labels is 20488 bytes of JSON; at most 16384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ce := validEvent()
			tt.mutate(&ce)
			_, err := ParseTaskEvent(ce)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Contains(t, err.Error(), tt.want)
			assert.Less(t, len(err.Error()), 1024, "an error never quotes an unbounded attribute")
		})
	}
}

func TestParseTaskType(t *testing.T) {
	tests := []struct {
		in         string
		task, kind string
		ok         bool
	}{
		{"sh.keptn.event.test.triggered", "test", "triggered", true},
		{"sh.keptn.event.my-custom-task.finished", "my-custom-task", "finished", true},
		{"sh.keptn.event.dev.delivery.triggered", "", "", false},
		{"sh.keptn.event..triggered", "", "", false},
		{"sh.keptn.log.error", "", "", false},
	}
	for _, tt := range tests {
		task, kind, ok := ParseTaskType(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		if ok {
			assert.Equal(t, tt.task, task)
			assert.Equal(t, tt.kind, kind)
			assert.Equal(t, tt.in, TaskType(task, kind))
		}
	}
}

func FuzzParseTaskType(f *testing.F) {
	f.Add("sh.keptn.event.test.triggered")
	f.Add("sh.keptn.event.a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		task, kind, ok := ParseTaskType(s)
		if ok {
			require.Equal(t, s, TaskType(task, kind))
			require.NotContains(t, task, ".")
			require.NotContains(t, kind, ".")
		}
	})
}

func TestResponsesCarryWhatKeptnNeeds(t *testing.T) {
	ce := validEvent()
	ce.SetExtension(ExtGitCommitID, "abc")
	ce.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	ev, err := ParseTaskEvent(ce)
	require.NoError(t, err)
	o := OriginOf(ev)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

	started, err := StartedEvent("job-executor-knative", "sid", o, now)
	require.NoError(t, err)
	assert.Equal(t, "sh.keptn.event.test.started", started.Type())
	assert.Equal(t, "id-1", started.Extensions()[ExtTriggeredID])
	assert.Equal(t, ev.Context, started.Extensions()[ExtContext])
	assert.Equal(t, "abc", started.Extensions()[ExtGitCommitID])
	assert.Equal(t, ce.Extensions()["traceparent"], started.Extensions()["traceparent"])

	fin, err := FinishedEvent("job-executor-knative", "fid", o, Finished{
		Status: StatusSucceeded, Result: ResultPass, Message: "ok",
		Extra: map[string]any{"test": map[string]string{"start": "a"}, "project": "must not override"},
	}, now)
	require.NoError(t, err)
	var data map[string]any
	require.NoError(t, json.Unmarshal(fin.Data(), &data))
	assert.Equal(t, "p", data["project"], "Extra never overrides required fields")
	assert.Equal(t, "s", data["stage"])
	assert.Equal(t, "v", data["service"])
	assert.Equal(t, "succeeded", data["status"])
	assert.Equal(t, "pass", data["result"])
	assert.Equal(t, map[string]any{"k": "v"}, data["labels"])
	assert.Equal(t, map[string]any{"start": "a"}, data["test"])
	assert.True(t, strings.HasSuffix(fin.Type(), ".finished"))
}

func TestResponsesEncodeDataAsJSONNotBase64(t *testing.T) {
	o := Origin{Task: "test", TriggeredID: "t", Context: "c", Project: "p", Stage: "s", Service: "v"}
	ev, err := StartedEvent("src", "id", o, time.Now())
	require.NoError(t, err)
	raw, err := json.Marshal(ev)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "data_base64", "structured mode must carry data as JSON")
	assert.Contains(t, string(raw), `"data":{`)
}

// FuzzParseTaskEventBounds: whatever an event sender puts in the
// attributes and labels, an accepted event fits in a Job's annotations
// (its origin well under Kubernetes' 256 KB) and an error never quotes more
// than a clipped value.
func FuzzParseTaskEventBounds(f *testing.F) {
	f.Add("id-1", "shipyard-controller", "sh.keptn.event.test.triggered", "ctx", "k", "v", 1)
	f.Add(strings.Repeat("i", 600), "s", "sh.keptn.event.a.b.triggered", "c", "k", "v", 3)
	f.Fuzz(func(t *testing.T, id, source, typ, kctx, lk, lv string, repeat int) {
		repeat = 1 + abs(repeat)%2048
		ce := event.New()
		ce.SetID(strings.Repeat(id, repeat%64+1))
		ce.SetSource(source)
		ce.SetType(typ)
		ce.SetExtension(ExtContext, strings.Repeat(kctx, repeat%8+1))
		_ = ce.SetData(event.ApplicationJSON, map[string]any{"project": "p", "stage": "s", "service": "v", "labels": map[string]string{lk: strings.Repeat(lv, repeat)}})
		ev, err := ParseTaskEvent(ce)
		if err != nil {
			if len(err.Error()) > 2048 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		origin, err := json.Marshal(OriginOf(ev))
		if err != nil {
			t.Fatal(err)
		}
		if len(origin)+len(ev.Type)+len(ev.ID)+len(ev.Source) > 64<<10 {
			t.Fatalf("accepted an event whose annotations take %d bytes", len(origin)+len(ev.Type)+len(ev.ID)+len(ev.Source))
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
