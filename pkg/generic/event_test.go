package generic

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

func newEvent(typ string, data any) event.Event {
	ce := event.New()
	ce.SetID("e-1")
	ce.SetSource("https://ci.example.com/p/7")
	ce.SetType(typ)
	ce.SetSubject("commit/4f2a")
	ce.SetExtension("team", "shop")
	if data != nil {
		_ = ce.SetData(event.ApplicationJSON, data)
	}
	return ce
}

func TestParse(t *testing.T) {
	long := strings.Repeat("s", keptn.MaxAttributeBytes+1)
	tests := []struct {
		name    string
		ce      func() event.Event
		wantErr string
		check   func(t *testing.T, ev *keptn.TaskEvent)
	}{
		{name: "whole event in the document", ce: func() event.Event { return newEvent("com.example.build", map[string]any{"branch": "main"}) },
			check: func(t *testing.T, ev *keptn.TaskEvent) {
				doc := ev.Document()
				if doc["subject"] != "commit/4f2a" || doc["team"] != "shop" || doc["source"] != "https://ci.example.com/p/7" {
					t.Errorf("attributes and extensions: %v", doc)
				}
				if d, _ := doc["data"].(map[string]any); d["branch"] != "main" {
					t.Errorf("data: %v", doc["data"])
				}
				if !ev.Generic || ev.Kind != keptn.KindTriggered || ev.ID != "e-1" {
					t.Errorf("event: %+v", ev)
				}
				var back map[string]any
				if err := json.Unmarshal(ev.Raw, &back); err != nil || back["id"] != "e-1" {
					t.Errorf("raw: %s %v", ev.Raw, err)
				}
			}},
		{name: "no data", ce: func() event.Event { return newEvent("com.example.ping", nil) },
			check: func(t *testing.T, ev *keptn.TaskEvent) {
				if _, ok := ev.Document()["data"]; ok {
					t.Errorf("data: %v", ev.Document())
				}
			}},
		{name: "text data stays a string", ce: func() event.Event {
			ce := newEvent("com.example.note", nil)
			_ = ce.SetData("text/plain", []byte("hello"))
			return ce
		}, check: func(t *testing.T, ev *keptn.TaskEvent) {
			if ev.Document()["data"] != "hello" {
				t.Errorf("data: %v", ev.Document()["data"])
			}
		}},
		{name: "missing id", ce: func() event.Event { ce := newEvent("x", nil); ce.SetID(""); return ce }, wantErr: "id"},
		{name: "long subject", ce: func() event.Event { ce := newEvent("x", nil); ce.SetSubject(long); return ce }, wantErr: "attribute subject"},
		{name: "long source", ce: func() event.Event { ce := newEvent("x", nil); ce.SetSource(long); return ce }, wantErr: "attribute source"},
		{name: "too large", ce: func() event.Event {
			return newEvent("x", map[string]any{"pad": strings.Repeat("x", MaxEventBytes)})
		}, wantErr: "at most 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse(tt.ce())
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, keptn.ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrMalformed naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, ev)
		})
	}
}

func TestAccepts(t *testing.T) {
	tests := []struct {
		typ  string
		ext  map[string]any
		want bool
	}{
		{"com.example.build", nil, true},
		{"com.example.build.finished", nil, true},
		{"sh.keptn.event.test.triggered", nil, false},
		{"dev.knative.sources.ping", nil, false},
		{"dev.knative.apiserver.resource.update", nil, false},
		{DefaultResultType, nil, false},
		{"com.example.build.finished", map[string]any{ExtTriggerID: "e-1"}, false},
	}
	for _, tt := range tests {
		if got := Accepts(tt.typ, tt.ext); got != tt.want {
			t.Errorf("Accepts(%q, %v) = %v, want %v", tt.typ, tt.ext, got, tt.want)
		}
	}
}

func TestResultType(t *testing.T) {
	tests := []struct{ setting, trigger, want string }{
		{"", "com.example.build", DefaultResultType},
		{"{type}.finished", "com.example.build", "com.example.build.finished"},
		{"org.acme.done", "com.example.build", "org.acme.done"},
	}
	for _, tt := range tests {
		if got := ResultType(tt.setting, tt.trigger); got != tt.want {
			t.Errorf("ResultType(%q, %q) = %q, want %q", tt.setting, tt.trigger, got, tt.want)
		}
	}
}

func TestResultEvent(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ev, err := ResultEvent(Result{
		Source: "job-executor-knative", ID: "r-1", Subject: "jobs/keptn-build-1",
		TriggerID: "e-1", TriggerSource: "ci", TriggerType: "com.example.build",
		Status: "errored", Outcome: "fail", Message: "compile: exit code 2",
		Tasks:   []map[string]any{{"task": "compile", "exitCode": 2}},
		Results: map[string]any{"compile": map[string]any{"errors": 3}},
		Time:    now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if ev.Type() != DefaultResultType || ev.Subject() != "jobs/keptn-build-1" || ev.Extensions()[ExtTriggerID] != "e-1" ||
		ev.Extensions()[ExtTriggerSource] != "ci" || ev.Extensions()[ExtTriggerType] != "com.example.build" {
		t.Errorf("attributes: %v", ev)
	}
	var data map[string]any
	if err := json.Unmarshal(ev.Data(), &data); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"status", "result", "message", "job", "tasks", "results"} {
		if _, ok := data[k]; !ok {
			t.Errorf("data.%s missing: %v", k, data)
		}
	}
	if Accepts(ev.Type(), ev.Extensions()) {
		t.Error("a result of ours must never start a Job")
	}
}

// FuzzParse: any event either parses, with a document that is the event,
// or is refused as malformed; never a panic, never an event over the bound.
func FuzzParse(f *testing.F) {
	f.Add("com.example.build", "ci", "e-1", `{"branch":"main"}`, "application/json")
	f.Add("x", "s", "i", "hello", "text/plain")
	f.Add("x", "s", "i", `{"a":`, "application/json")
	f.Fuzz(func(t *testing.T, typ, source, id, data, ct string) {
		ce := event.New()
		ce.SetType(typ)
		ce.SetSource(source)
		ce.SetID(id)
		if err := ce.SetData(ct, []byte(data)); err != nil {
			return
		}
		ev, err := Parse(ce)
		if err != nil {
			if !errors.Is(err, keptn.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if len(ev.Raw) > MaxEventBytes || ev.Document()["id"] != ce.ID() || !ev.Generic {
			t.Fatalf("parsed %q: %+v", ce.ID(), ev)
		}
	})
}
