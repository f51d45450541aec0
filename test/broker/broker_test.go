package broker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// fast keeps retry tests quick; the backoff shape is Knative's.
var fast = Delivery(3, "PT0.001S")

func newEvent(t *testing.T, id, typ string) event.Event {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource("test/broker")
	if err := ev.SetData("application/json", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	return ev
}

// subscriber answers with the statuses in order (the last one repeats) and
// records each request.
type subscriber struct {
	mu       sync.Mutex
	statuses []int
	requests []*http.Request
	bodies   [][]byte
	reply    *event.Event
}

func (s *subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.requests)
	status := s.statuses[min(n, len(s.statuses)-1)]
	s.requests = append(s.requests, r.Clone(context.Background()))
	body := make([]byte, r.ContentLength)
	_, _ = r.Body.Read(body)
	s.bodies = append(s.bodies, body)
	reply := s.reply
	s.mu.Unlock()
	if reply != nil && status/100 == 2 {
		if err := cehttp.WriteResponseWriter(r.Context(), binding.ToMessage(reply), status, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
		return
	}
	w.WriteHeader(status)
}

func serve(t *testing.T, s *subscriber) string {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDeliverSendsBinaryModeAndPreferReply(t *testing.T) {
	sub := &subscriber{statuses: []int{202}}
	res := Deliver(context.Background(), newEvent(t, "id-1", "sh.keptn.event.test.triggered"), serve(t, sub), &fast)
	if res.Err != nil || res.Status != 202 || res.Attempts != 1 {
		t.Fatalf("result = %+v, want 202 after 1 attempt", res)
	}
	r := sub.requests[0]
	for header, want := range map[string]string{
		"Ce-Id":          "id-1",
		"Ce-Type":        "sh.keptn.event.test.triggered",
		"Ce-Source":      "test/broker",
		"Ce-Specversion": "1.0",
		"Content-Type":   "application/json",
		"Prefer":         "reply",
	} {
		if got := r.Header.Get(header); got != want {
			t.Errorf("header %s = %q, want %q", header, got, want)
		}
	}
	if string(sub.bodies[0]) != `{"k":"v"}` {
		t.Errorf("body = %q, want the event data alone (binary mode)", sub.bodies[0])
	}
	if res.Reply != nil {
		t.Errorf("reply = %v, want none for an empty 202", res.Reply)
	}
}

func TestDeliverRetries(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int
		wantStatuses []int
		wantErr      bool
	}{
		{"404 then ok", []int{404, 200}, []int{404, 200}, false},
		{"408 then ok", []int{408, 200}, []int{408, 200}, false},
		{"409 then ok", []int{409, 200}, []int{409, 200}, false},
		{"429 then ok", []int{429, 200}, []int{429, 200}, false},
		{"500, 503 then ok", []int{500, 503, 200}, []int{500, 503, 200}, false},
		{"5xx until retries run out", []int{502}, []int{502, 502, 502, 502}, true},
		{"400 is not retried", []int{400, 200}, []int{400}, true},
		{"401 is not retried", []int{401, 200}, []int{401}, true},
		{"410 is not retried", []int{410, 200}, []int{410}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := &subscriber{statuses: tt.statuses}
			res := Deliver(context.Background(), newEvent(t, "id", "t"), serve(t, sub), &fast)
			if !slices.Equal(res.Statuses, tt.wantStatuses) || res.Attempts != len(tt.wantStatuses) || len(sub.requests) != len(tt.wantStatuses) {
				t.Errorf("statuses = %v in %d attempts (%d requests seen), want %v", res.Statuses, res.Attempts, len(sub.requests), tt.wantStatuses)
			}
			if res.Status != tt.wantStatuses[len(tt.wantStatuses)-1] {
				t.Errorf("final status = %d, want %d", res.Status, tt.wantStatuses[len(tt.wantStatuses)-1])
			}
			if (res.Err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", res.Err, tt.wantErr)
			}
			for _, r := range sub.requests {
				if r.Header.Get("Ce-Id") != "id" {
					t.Errorf("a retry carried ce-id %q, want the same event", r.Header.Get("Ce-Id"))
				}
			}
		})
	}
}

func TestDeliverToClosedPortRetriesThenFails(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res := Deliver(context.Background(), newEvent(t, "id", "t"), url, &fast)
	if res.Err == nil || res.Status != 0 || res.Attempts != 4 {
		t.Errorf("result = %+v, want an error with no status after 4 attempts", res)
	}
}

func TestDeliverRejectsBadInput(t *testing.T) {
	if res := Deliver(context.Background(), newEvent(t, "id", "t"), "not a url", &fast); res.Err == nil || res.Attempts != 0 {
		t.Errorf("bad URL: result = %+v, want an error before any attempt", res)
	}
	if res := Deliver(context.Background(), event.New(), "http://127.0.0.1:9", &fast); res.Err == nil || res.Attempts != 0 {
		t.Errorf("invalid event: result = %+v, want an error before any attempt", res)
	}
}

func TestBrokerPublishesRepliesAgain(t *testing.T) {
	reply := newEvent(t, "reply-1", "sh.keptn.event.test.started")
	task := &subscriber{statuses: []int{200}, reply: &reply}
	watcher := &subscriber{statuses: []int{202}}
	b := New(
		Trigger{Name: "task", Filters: []eventingv1.SubscriptionsAPIFilter{
			{Prefix: map[string]string{"type": "sh.keptn.event."}},
			{Suffix: map[string]string{"type": ".triggered"}},
		}, Subscriber: serve(t, task), Delivery: &fast},
		Trigger{Name: "started", Filter: map[string]string{"type": "sh.keptn.event.test.started"}, Subscriber: serve(t, watcher), Delivery: &fast},
	)
	records := b.Publish(context.Background(), newEvent(t, "trig-1", "sh.keptn.event.test.triggered"))

	if len(records) != 2 {
		t.Fatalf("deliveries = %d, want 2 (the event, then its reply)", len(records))
	}
	if records[0].Trigger != "task" || records[0].Result.Reply == nil || records[0].Result.Reply.ID() != "reply-1" {
		t.Errorf("first delivery = %+v, want the task trigger answering with reply-1", records[0])
	}
	if records[1].Trigger != "started" || records[1].Event.ID() != "reply-1" || records[1].Result.Status != 202 {
		t.Errorf("second delivery = %+v, want reply-1 delivered to the started trigger", records[1])
	}
	if len(watcher.requests) != 1 || watcher.requests[0].Header.Get("Ce-Type") != "sh.keptn.event.test.started" {
		t.Errorf("started subscriber got %d requests, want the reply once", len(watcher.requests))
	}
	if got := len(b.Records()); got != 2 {
		t.Errorf("Records() has %d entries, want 2", got)
	}
}

func TestBrokerSkipsTriggersThatDoNotMatch(t *testing.T) {
	sub := &subscriber{statuses: []int{202}}
	b := New(Trigger{Name: "other", Filter: map[string]string{"type": "other"}, Subscriber: serve(t, sub), Delivery: &fast})
	if records := b.Publish(context.Background(), newEvent(t, "id", "t")); len(records) != 0 || len(sub.requests) != 0 {
		t.Errorf("deliveries = %d, requests = %d, want none", len(records), len(sub.requests))
	}
}
