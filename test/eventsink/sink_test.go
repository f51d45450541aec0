package eventsink_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/keptn-sandbox/job-executor-knative/test/broker"
	"github.com/keptn-sandbox/job-executor-knative/test/eventsink"
)

func send(t *testing.T, s *eventsink.Sink, id, typ string) {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource("test")
	d := broker.Delivery(0, "PT0S")
	if res := broker.Deliver(context.Background(), ev, s.URL(), &d); res.Err != nil || res.Status != http.StatusAccepted {
		t.Fatalf("deliver %s: %+v", id, res)
	}
}

func TestWaitForFindsEarlierAndLaterEvents(t *testing.T) {
	s := eventsink.New(t)
	send(t, s, "1", "a")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	got, err := s.WaitFor(ctx, func(ev event.Event) bool { return ev.Type() == "a" })
	if err != nil || got.ID() != "1" {
		t.Fatalf("WaitFor(a) = %v, %v; want the event received before the call", got.ID(), err)
	}
	found := make(chan string, 1)
	go func() {
		ev, err := s.WaitFor(ctx, func(ev event.Event) bool { return ev.Type() == "b" })
		if err != nil {
			found <- err.Error()
			return
		}
		found <- ev.ID()
	}()
	send(t, s, "2", "b")
	if id := <-found; id != "2" {
		t.Errorf("WaitFor(b) = %q, want event 2", id)
	}
	if n := len(s.Events()); n != 2 {
		t.Errorf("Events() has %d events, want 2", n)
	}
}

func TestWaitForEndsWithContext(t *testing.T) {
	s := eventsink.New(t)
	send(t, s, "1", "a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.WaitFor(ctx, func(event.Event) bool { return false })
	if err == nil || !strings.Contains(err.Error(), "among 1 received") {
		t.Errorf("err = %v, want a context error counting 1 event", err)
	}
}

func TestRejectsWhatIsNotAnEvent(t *testing.T) {
	s := eventsink.New(t)
	for _, tc := range []struct {
		method string
		want   int
	}{{http.MethodGet, http.StatusMethodNotAllowed}, {http.MethodPost, http.StatusBadRequest}} {
		req, _ := http.NewRequest(tc.method, s.URL(), strings.NewReader("plain text"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s plain text: status %d, want %d", tc.method, resp.StatusCode, tc.want)
		}
	}
	if n := len(s.Events()); n != 0 {
		t.Errorf("recorded %d events, want 0", n)
	}
}
