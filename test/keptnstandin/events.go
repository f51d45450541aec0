package keptnstandin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	keptnv2 "github.com/keptn/go-utils/pkg/lib/v0_2_0"
)

// Event is one event the stand-in accepted at POST /v1/event.
type Event struct {
	Received     time.Time `json:"received"`
	KeptnContext string    `json:"keptnContext"` // what the stand-in answered
	ContentType  string    `json:"contentType"`
	// Body is the request body as sent: a keptnContextExtendedCE.
	Body json.RawMessage `json:"event"`
	// Published is the event as the api-service publishes it (replaced.go):
	// a new id and time, without shkeptnspecversion.
	Published json.RawMessage `json:"published"`

	// Fields of Body, for assertions.
	Type   string `json:"-"`
	Source string `json:"-"`
	// ID is the id Keptn gave the event; SentID the sender's.
	ID             string         `json:"-"`
	SentID         string         `json:"-"`
	Shkeptncontext string         `json:"-"`
	Triggeredid    string         `json:"-"`
	Gitcommitid    string         `json:"-"`
	Data           map[string]any `json:"-"`
}

// keptnCE is the part of the api-service's KeptnContextExtendedCE the
// validation reads.
type keptnCE struct {
	Type           string         `json:"type"`
	Source         string         `json:"source"`
	ID             string         `json:"id"`
	Shkeptncontext string         `json:"shkeptncontext"`
	Triggeredid    string         `json:"triggeredid"`
	Gitcommitid    string         `json:"gitcommitid"`
	Data           map[string]any `json:"data"`
}

// The media types the api-service consumes; both reach one JSON consumer.
var eventMediaTypes = []string{"application/json", "application/cloudevents+json"}

// serveEvent is POST /v1/event, checked in the order Keptn's api-service
// checks: token, media type, size, schema, then the event rules. Between the
// schema and the rules the body is decoded with go-utils' types
// (checkEventWire); a body they cannot hold is a violation and is refused
// with 400, with Keptn's own message when Keptn's rules refuse it too.
func (s *Server) serveEvent(r *http.Request, in requestInput) reply {
	if rep, ok := s.authorize(r, false); !ok {
		return rep
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(eventMediaTypes, mt) {
		if ct == "" {
			ct = "application/octet-stream" // go-openapi's default
		}
		rep := keptnError(http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported media type %q, only %v are allowed", ct, eventMediaTypes))
		s.recordViolation(sideRequest, r, rep.status, fmt.Errorf("content type %q is not one the contract consumes", ct))
		return rep
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.maxEventBytes+1))
	if err != nil {
		return keptnError(http.StatusBadRequest, fmt.Sprintf("parsing body body from \"\" failed, because %v", err))
	}
	if int64(len(body)) > s.opts.maxEventBytes {
		// Keptn wraps the body in http.MaxBytesReader; its JSON consumer
		// fails and go-openapi answers with a 400 ParseError.
		rep := keptnError(http.StatusBadRequest, "parsing body body from \"\" failed, because http: request body too large")
		rep.closeConn = true
		return rep
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := s.contract.validateRequest(r.Context(), in); err != nil {
		// go-swagger answers a schema violation with 422; the stand-in
		// uses 400 so every invalid event gets the same 4xx.
		s.recordViolation(sideRequest, r, http.StatusBadRequest, err)
		return keptnError(http.StatusBadRequest, errorText(err))
	}
	wireErr := checkEventWire(body)
	if wireErr != nil {
		s.recordViolation(sideRequest, r, http.StatusBadRequest, wireErr)
	}
	// What the api-service binds: unknown properties are dropped here.
	var ce keptnCE
	if err := json.Unmarshal(body, &ce); err != nil {
		return keptnError(http.StatusBadRequest, fmt.Sprintf("parsing body body from \"\" failed, because %v", err))
	}
	if msg := validateKeptnEvent(ce); msg != "" {
		return keptnError(http.StatusBadRequest, msg)
	}
	if wireErr != nil {
		// Keptn would accept it and lose or garble something; see wire.go.
		return keptnError(http.StatusBadRequest, wireErr.Error())
	}
	now := time.Now()
	ev := Event{
		Received:       now,
		KeptnContext:   keptnContextFor(ce.Shkeptncontext),
		ContentType:    mt,
		Body:           json.RawMessage(body),
		Type:           ce.Type,
		Source:         ce.Source,
		ID:             uuid.NewString(),
		SentID:         ce.ID,
		Shkeptncontext: ce.Shkeptncontext,
		Triggeredid:    ce.Triggeredid,
		Gitcommitid:    ce.Gitcommitid,
		Data:           ce.Data,
	}
	ev.Published = publishedBody(body, ev.ID, now)
	s.events.add(ev)
	s.shipyard.count(ev.Type, ev.Triggeredid)
	if s.opts.onEvent != nil {
		s.opts.onEvent(ev)
	}
	return jsonReply(http.StatusOK, map[string]string{"keptnContext": ev.KeptnContext})
}

// validateKeptnEvent is the api-service's Validate (api/handlers/
// eventvalidation.go, Keptn 1.4.5). It returns Keptn's message, or "" for a
// valid event.
func validateKeptnEvent(ce keptnCE) string {
	switch ce.Type {
	case "sh.keptn.log.error", "sh.keptn.events.problem":
		return ""
	case "sh.keptn.event.monitoring.configure":
		var d struct {
			keptnv2.EventData
			Type string `json:"type,omitempty"`
		}
		if keptnv2.Decode(ce.Data, &d) != nil {
			return "could not parse common event data"
		}
		if d.Project == "" || d.Type == "" {
			return "mandatory fields(s) 'project', 'service' or 'type' missing"
		}
		return ""
	}
	parts := strings.Split(ce.Type, ".")
	if slices.Contains(parts, "") || (len(parts) != 5 && len(parts) != 6) {
		return "unknown event type"
	}
	kind := parts[len(parts)-1]
	// go-utils' own type: decoding into it is how Keptn checks the common
	// fields, so a label that is not a string fails too.
	var d keptnv2.EventData
	if len(parts) == 6 { // a sequence: sh.keptn.event.<stage>.<sequence>.<kind>
		if kind != "triggered" {
			return "unknown event type action: " + kind
		}
		if keptnv2.Decode(ce.Data, &d) != nil {
			return "could not parse common event data"
		}
		if d.Project == "" || d.Stage == "" || d.Service == "" {
			return "mandatory field(s) 'project', 'stage' or 'service' missing"
		}
		if d.Stage != parts[3] {
			return "stage name in event data and in event type does not match"
		}
		return ""
	}
	// a task: sh.keptn.event.<task>.<kind>; go-utils checks only the count
	switch kind {
	case "invalidated":
		return ""
	case "started", "finished":
	default:
		return "unknown event type action: " + kind
	}
	if keptnv2.Decode(ce.Data, &d) != nil {
		return "could not parse common event data"
	}
	if d.Project == "" || d.Stage == "" || d.Service == "" {
		return "mandatory field(s) 'project', 'stage' or 'service' missing"
	}
	if kind == "finished" {
		if d.Result == "" {
			return "result field is not set"
		}
		if d.Status == "" {
			return "status field is not set"
		}
	}
	if ce.Triggeredid == "" {
		return "mandatory field 'triggeredid' missing"
	}
	return ""
}

// keptnContextFor is the api-service's createOrApplyKeptnContext: a UUID is
// kept as sent, any other value is turned into the same UUID every time (its
// first 16 bytes, space-padded, as the random source), and none gets a new one.
func keptnContextFor(shkeptncontext string) string {
	if shkeptncontext == "" {
		return uuid.NewString()
	}
	if _, err := uuid.Parse(shkeptncontext); err == nil {
		return shkeptncontext
	}
	seed := shkeptncontext
	if len(seed) < 16 {
		seed = fmt.Sprintf("%-16v", seed)
	}
	id, err := uuid.NewRandomFromReader(strings.NewReader(seed))
	if err != nil { // unreachable: the seed holds at least 16 bytes
		return uuid.NewString()
	}
	return id.String()
}

// eventLog records accepted events and wakes waiters on each new one.
type eventLog struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{} // closed and replaced on every add
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// Events returns every accepted event, oldest first.
func (s *Server) Events() []Event {
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	return slices.Clone(s.events.events)
}

// EventsOfType returns the accepted events of one type, oldest first.
func (s *Server) EventsOfType(t string) []Event {
	var out []Event
	for _, e := range s.Events() {
		if e.Type == t {
			out = append(out, e)
		}
	}
	return out
}

// WaitFor returns the first accepted event, already recorded or still to
// come, for which match is true. It gives up when ctx is done.
func (s *Server) WaitFor(ctx context.Context, match func(Event) bool) (Event, error) {
	l := &s.events
	seen := 0
	for {
		l.mu.Lock()
		for ; seen < len(l.events); seen++ {
			if match(l.events[seen]) {
				e := l.events[seen]
				l.mu.Unlock()
				return e, nil
			}
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("waiting for a Keptn event: %w", ctx.Err())
		}
	}
}
