// Package eventsink is a CloudEvents receiver on loopback for tests: it
// records every event POSTed to it (binary or structured mode) so tests can
// wait for the ones they expect.
package eventsink

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Sink records received events.
type Sink struct {
	srv *httptest.Server

	mu      sync.Mutex
	events  []event.Event
	changed chan struct{} // closed and replaced on every new event
}

// New starts a sink on 127.0.0.1 at a free port, closed when t ends.
func New(t testing.TB) *Sink {
	s := &Sink{changed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is where to send events.
func (s *Sink) URL() string { return s.srv.URL }

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST CloudEvents here", http.StatusMethodNotAllowed)
		return
	}
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer func() { _ = msg.Finish(nil) }()
	ev, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, *ev)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// Events returns the events received so far, in arrival order.
func (s *Sink) Events() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.events...)
}

// WaitFor returns the first received event (earlier ones included) that
// match accepts, waiting for it until ctx ends.
func (s *Sink) WaitFor(ctx context.Context, match func(event.Event) bool) (event.Event, error) {
	seen := 0
	for {
		s.mu.Lock()
		events := s.events[seen:]
		changed := s.changed
		s.mu.Unlock()
		for _, ev := range events {
			if match(ev) {
				return ev, nil
			}
		}
		seen += len(events)
		select {
		case <-ctx.Done():
			return event.Event{}, fmt.Errorf("eventsink: no matching event among %d received: %w", seen, ctx.Err())
		case <-changed:
		}
	}
}
