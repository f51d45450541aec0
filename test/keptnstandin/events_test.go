package keptnstandin

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// finished builds a sh.keptn.event.test.finished body; edit removes or
// changes fields before it is encoded.
func finished(edit func(ev, data map[string]any)) []byte {
	data := map[string]any{
		"project": "sockshop", "stage": "dev", "service": "carts",
		"status": "succeeded", "result": "pass", "message": "done",
	}
	ev := map[string]any{
		"type":           "sh.keptn.event.test.finished",
		"source":         "job-executor-knative",
		"specversion":    "1.0",
		"shkeptncontext": "a3e5f16d-8888-4720-82c7-6995062905c1",
		"triggeredid":    "3f9640b6-1d2a-4f11-95f5-23259f1d82d6",
		"gitcommitid":    "521747298a3790fde1710f3aa2d03b55020575aa",
		"data":           data,
	}
	if edit != nil {
		edit(ev, data)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}

// TestPostEvent is the (d): a valid .finished is accepted and
// recorded, invalid ones get Keptn's 4xx and are not recorded.
func TestPostEvent(t *testing.T) {
	tests := []struct {
		name        string
		body        []byte
		token       string // "" sends none
		contentType string
		wantStatus  int
		wantMsg     string // exact message, or a prefix ending in "…"
	}{
		{name: "valid finished", body: finished(nil), wantStatus: 200},
		{name: "valid finished as a structured CloudEvent", body: finished(nil), contentType: "application/cloudevents+json", wantStatus: 200},
		{name: "missing result", body: finished(func(_, d map[string]any) { delete(d, "result") }), wantStatus: 400, wantMsg: "result field is not set"},
		{name: "missing status", body: finished(func(_, d map[string]any) { d["status"] = "" }), wantStatus: 400, wantMsg: "status field is not set"},
		{name: "missing triggeredid", body: finished(func(e, _ map[string]any) { delete(e, "triggeredid") }), wantStatus: 400, wantMsg: "mandatory field 'triggeredid' missing"},
		{name: "missing service", body: finished(func(_, d map[string]any) { delete(d, "service") }), wantStatus: 400, wantMsg: "mandatory field(s) 'project', 'stage' or 'service' missing"},
		{name: "label not a string", body: finished(func(_, d map[string]any) { d["labels"] = map[string]any{"n": 1} }), wantStatus: 400, wantMsg: "could not parse common event data"},
		{name: "data not an object", body: finished(func(e, _ map[string]any) { e["data"] = "done" }), wantStatus: 400, wantMsg: `request body has an error: doesn't match schema #/components/schemas/keptnContextExtendedCE: at "/data": value must be an object`},
		{name: "no type", body: finished(func(e, _ map[string]any) { delete(e, "type") }), wantStatus: 400, wantMsg: `request body has an error: doesn't match schema #/components/schemas/keptnContextExtendedCE: at "/type": property "type" is missing`},
		{name: "not JSON", body: []byte(`{"type":`), wantStatus: 400, wantMsg: "request body has an error: …"},
		{name: "status.changed is not accepted", body: finished(func(e, _ map[string]any) { e["type"] = "sh.keptn.event.test.status.changed" }), wantStatus: 400, wantMsg: "unknown event type action: changed"},
		{name: "triggered task", body: finished(func(e, _ map[string]any) { e["type"] = "sh.keptn.event.test.triggered" }), wantStatus: 400, wantMsg: "unknown event type action: triggered"},
		{name: "oversize", body: finished(func(_, d map[string]any) { d["message"] = strings.Repeat("x", 64*1024) }), wantStatus: 400, wantMsg: `parsing body body from "" failed, because http: request body too large`},
		{name: "no token", body: finished(nil), token: "-", wantStatus: 401, wantMsg: "unauthenticated for invalid credentials"},
		{name: "wrong token", body: finished(nil), token: "not-the-token", wantStatus: 401, wantMsg: "incorrect api key auth"},
		{name: "text/plain", body: finished(nil), contentType: "text/plain", wantStatus: 415, wantMsg: `unsupported media type "text/plain", only [application/json application/cloudevents+json] are allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStarted(t)
			token := s.Token()
			switch tt.token {
			case "-":
				token = ""
			case "":
			default:
				token = tt.token
			}
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			r := send(t, http.MethodPost, s.APIURL()+"/v1/event", token, ct, tt.body)
			if tt.wantStatus == 200 {
				var ok struct{ KeptnContext string }
				if r.status != 200 || json.Unmarshal(r.body, &ok) != nil || ok.KeptnContext != "a3e5f16d-8888-4720-82c7-6995062905c1" {
					t.Fatalf("got %d %s, want 200 with the event's keptnContext", r.status, r.body)
				}
				evs := s.EventsOfType("sh.keptn.event.test.finished")
				if len(evs) != 1 || evs[0].Triggeredid != "3f9640b6-1d2a-4f11-95f5-23259f1d82d6" || evs[0].Data["result"] != "pass" || string(evs[0].Body) != string(tt.body) || evs[0].Received.IsZero() {
					t.Errorf("recorded %+v, want the one event as sent", evs)
				}
				return
			}
			var e struct {
				Code    int
				Message string
			}
			if err := json.Unmarshal(r.body, &e); err != nil || r.status != tt.wantStatus || e.Code != tt.wantStatus {
				t.Fatalf("got %d %s, want %d with a Keptn error body", r.status, r.body, tt.wantStatus)
			}
			if prefix, ok := strings.CutSuffix(tt.wantMsg, "…"); ok {
				if !strings.HasPrefix(e.Message, prefix) {
					t.Errorf("message %q, want one starting %q", e.Message, prefix)
				}
			} else if e.Message != tt.wantMsg {
				t.Errorf("message %q, want %q", e.Message, tt.wantMsg)
			}
			if n := len(s.Events()); n != 0 {
				t.Errorf("a refused event was recorded (%d events)", n)
			}
		})
	}
}

func TestEventSizeLimit(t *testing.T) {
	s := NewStarted(t, WithMaxEventSizeKB(1))
	pad := func(n int) []byte {
		base := finished(func(_, d map[string]any) { d["message"] = "" })
		return finished(func(_, d map[string]any) { d["message"] = strings.Repeat("x", n-len(base)) })
	}
	if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/json", pad(1024)); r.status != 200 {
		t.Errorf("exactly 1 KB: %d %s, want 200", r.status, r.body)
	}
	if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/json", pad(1025)); r.status != 400 {
		t.Errorf("1 KB + 1 byte: %d %s, want 400", r.status, r.body)
	}
}

// TestKeptnFixtures posts the project's own event fixtures
// (testdata/events): what the function sends is accepted, a task .triggered
// is not, and a structured-mode CloudEvent is refused as a contract
// violation because Keptn would drop its datacontenttype and traceparent.
func TestKeptnFixtures(t *testing.T) {
	tests := map[string]struct {
		status    int
		violation string // part of the request violation expected, "" for none
	}{
		"test.started.json":                   {200, ""},
		"test.finished.json":                  {200, ""},
		"log.error.json":                      {200, ""},
		"hardening.delivery.triggered.json":   {200, ""},
		"test.triggered.json":                 {400, ""},
		"structured-cloudevent.finished.json": {400, `unknown field "datacontenttype"`},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStarted(t)
			body, err := os.ReadFile(filepath.Join("testdata", "events", name))
			if err != nil {
				t.Fatal(err)
			}
			if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/cloudevents+json", body); r.status != want.status {
				t.Errorf("%d %s, want %d", r.status, r.body, want.status)
			}
			v := s.ContractViolations()
			switch {
			case want.violation == "" && len(v) != 0:
				t.Errorf("violations %v, want none", v)
			case want.violation != "" && (len(v) != 1 || !strings.Contains(v[0].Err, want.violation)):
				t.Errorf("violations %v, want one about %s", v, want.violation)
			}
		})
	}
}

func TestGatewayEventPath(t *testing.T) {
	s := NewStarted(t, WithGateway(true))
	if r := send(t, http.MethodPost, s.URL()+"/api/v1/event", s.Token(), "application/json", finished(nil)); r.status != 200 {
		t.Errorf("/api/v1/event: %d %s, want 200", r.status, r.body)
	}
	if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/json", finished(nil)); r.status != 404 {
		t.Errorf("/v1/event in gateway mode: %d, want 404", r.status)
	}
	if n := s.Requests(KeyEvent); n != 1 {
		t.Errorf("Requests(KeyEvent) = %d, want 1", n)
	}
}

func TestValidateKeptnEvent(t *testing.T) {
	full := map[string]any{"project": "p", "stage": "dev", "service": "v", "status": "succeeded", "result": "pass"}
	tests := []struct {
		name string
		ce   keptnCE
		want string
	}{
		{"started", keptnCE{Type: "sh.keptn.event.test.started", Triggeredid: "t", Data: full}, ""},
		{"invalidated needs nothing", keptnCE{Type: "sh.keptn.event.evaluation.invalidated"}, ""},
		{"problem", keptnCE{Type: "sh.keptn.events.problem"}, ""},
		{"go-utils does not check the prefix", keptnCE{Type: "a.b.c.d.started", Triggeredid: "t", Data: full}, ""},
		{"empty part", keptnCE{Type: "sh.keptn.event..started"}, "unknown event type"},
		{"four parts", keptnCE{Type: "sh.keptn.event.started"}, "unknown event type"},
		{"sequence triggered", keptnCE{Type: "sh.keptn.event.dev.delivery.triggered", Data: full}, ""},
		{"sequence stage mismatch", keptnCE{Type: "sh.keptn.event.prod.delivery.triggered", Data: full}, "stage name in event data and in event type does not match"},
		{"sequence finished", keptnCE{Type: "sh.keptn.event.dev.delivery.finished", Data: full}, "unknown event type action: finished"},
		{"monitoring.configure", keptnCE{Type: "sh.keptn.event.monitoring.configure", Data: map[string]any{"project": "p", "type": "prometheus"}}, ""},
		{"monitoring.configure without type", keptnCE{Type: "sh.keptn.event.monitoring.configure", Data: map[string]any{"project": "p"}}, "mandatory fields(s) 'project', 'service' or 'type' missing"},
	}
	for _, tt := range tests {
		if got := validateKeptnEvent(tt.ce); got != tt.want {
			t.Errorf("%s: validateKeptnEvent = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestKeptnContextFor(t *testing.T) {
	const id = "a3e5f16d-8888-4720-82c7-6995062905c1"
	if got := keptnContextFor(id); got != id {
		t.Errorf("a UUID came back as %q", got)
	}
	a, b := keptnContextFor("my-context"), keptnContextFor("my-context")
	if a != b {
		t.Errorf("a non-UUID context gave %q, then %q; want the same UUID", a, b)
	}
	if _, err := uuid.Parse(a); err != nil || a == "my-context" {
		t.Errorf("a non-UUID context gave %q, want a UUID", a)
	}
	// Keptn pads to 16 bytes with spaces: the UUID is those bytes with the
	// version and variant bits set.
	if want := "6d792d63-6f6e-4465-b874-202020202020"; a != want {
		t.Errorf("keptnContextFor(my-context) = %s, want %s as Keptn derives it", a, want)
	}
	if x, y := keptnContextFor(""), keptnContextFor(""); x == y {
		t.Errorf("an empty context gave %q twice; want fresh UUIDs", x)
	}
}

func TestWaitForAndHook(t *testing.T) {
	var mu sync.Mutex
	var hooked []string
	s := NewStarted(t, WithEventHook(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, e.Type)
	}))
	started := finished(func(e, d map[string]any) {
		e["type"] = "sh.keptn.event.test.started"
		delete(d, "status")
		delete(d, "result")
	})
	if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/json", started); r.status != 200 {
		t.Fatalf("started: %d %s", r.status, r.body)
	}

	// The deadline only bounds a broken test; nothing asserts on timing.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan Event, 1)
	go func() {
		e, err := s.WaitFor(ctx, func(e Event) bool { return e.Type == "sh.keptn.event.test.finished" })
		if err != nil {
			t.Error(err)
		}
		done <- e
	}()
	if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/json", finished(nil)); r.status != 200 {
		t.Fatalf("finished: %d %s", r.status, r.body)
	}
	if e := <-done; e.Type != "sh.keptn.event.test.finished" {
		t.Errorf("WaitFor returned %+v", e)
	}
	// An event recorded before the call is found too.
	if e, err := s.WaitFor(ctx, func(e Event) bool { return e.Type == "sh.keptn.event.test.started" }); err != nil || e.Data["project"] != "sockshop" {
		t.Errorf("WaitFor(started) = %+v, %v", e, err)
	}
	cancelled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if _, err := s.WaitFor(cancelled, func(Event) bool { return false }); err == nil {
		t.Error("WaitFor on a cancelled context returned no error")
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(hooked, ",") != "sh.keptn.event.test.started,sh.keptn.event.test.finished" {
		t.Errorf("hook saw %v", hooked)
	}
}
