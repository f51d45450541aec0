package e2e

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/test/broker"
	"github.com/keptn-sandbox/job-executor-knative/test/distributor"
	"github.com/keptn-sandbox/job-executor-knative/test/eventsink"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// The Broker path every delivery in these tests takes, as docs/deploy.md
// draws it:
//
//	distributor ──structured POST──▶ broker ingress ──▶ channel ──▶ broker filter ──Trigger──▶ function
//	 (ours, as Keptn's)              (Knative's binary) (Knative's   (Knative's binary)
//	                                                     fanout, in-process)
//
// The Broker, the Trigger and their delivery specs are the ones
// `kustomize build config/knative` gives. Each function replica gets its own
// copy of them in a namespace of its own, with the replica as the Trigger's
// subscriber: `deliver(t, replica.url, ce)` is "Keptn publishes ce and the
// Service routes it to this replica".

var plumbing struct {
	once sync.Once
	p    *broker.Plumbing
	err  error
}

func brokerPlumbingFor(t *testing.T) *broker.Plumbing {
	t.Helper()
	plumbing.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		plumbing.p, plumbing.err = broker.NewPlumbing(ctx, testbed.Get(t))
	})
	require.NoError(t, plumbing.err, "broker plumbing")
	return plumbing.p
}

// route is one replica's Broker and Trigger.
type route struct {
	*broker.Route
	replica *replica
}

// routes maps a replica's URL to its route.
var routes sync.Map

func routeOf(t *testing.T, url string) *route {
	t.Helper()
	r, ok := routes.Load(url)
	if !ok {
		t.Fatalf("no Broker delivers to %s: start it with env.startFunction", url)
	}
	return r.(*route)
}

// wireBroker installs the shipped Broker and Trigger for r in a namespace of
// their own (broker.Plumbing.Install) with the env's dead-letter sink.
func (e *env) wireBroker(r *replica) {
	e.t.Helper()
	p := brokerPlumbingFor(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt, err := p.Install(ctx, e.bed, testbed.Namespace(e.t), r.url, e.deadLetterSink().URL())
	require.NoError(e.t, err)
	routes.Store(r.url, &route{Route: rt, replica: r})
	e.t.Cleanup(func() { routes.Delete(r.url) })
}

// publication is one event the distributor sent into a replica's Broker.
type publication struct {
	id, requestID string
	sent          distributor.Result
	receipts      []broker.Receipt
	subscription  string
	calls         int // requests the replica got for it
}

// publish sends ce through the distributor into r's Broker and returns once
// the Broker is done with it: the ingress answered (after the channel's
// deliveries, retries and dead letter) or the distributor gave up.
func (rt *route) publish(t *testing.T, ce event.Event) publication {
	t.Helper()
	rid := uuid.NewString()
	res := rt.Distributor.Send(context.Background(), ce, http.Header{broker.RequestIDHeader: {rid}})
	mine := func(d broker.Receipt) bool { return d.RequestID == rid }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := rt.Channel.Wait(ctx, func(all []broker.Receipt) bool {
		for _, d := range all {
			if mine(d) && !d.Done() {
				return false
			}
		}
		return true
	})
	require.NoError(t, err, "the channel never finished %s", ce.ID())
	return publication{
		id: ce.ID(), requestID: rid, sent: res,
		receipts:     rt.Channel.Receipts(mine),
		subscription: rt.Subscription,
		calls:        rt.replica.calls(rid),
	}
}

// attempts are the statuses the Trigger's subscriber answered, in order, over
// every publication's channel request.
func (p publication) attempts() []int {
	var out []int
	for _, d := range p.receipts {
		for _, a := range d.Attempts(p.subscription) {
			out = append(out, a.Status)
		}
	}
	return out
}

// status is what the function answered the Broker last for this
// publication; 0 if the Trigger did not deliver it.
func (p publication) status() int {
	if p.calls == 0 {
		return 0
	}
	a := p.attempts()
	if len(a) == 0 {
		return p.sent.Status
	}
	return a[len(a)-1]
}

// deadLetterSink is the env's dead-letter Service (platform/dead-letter.yaml):
// every replica's Broker and Trigger resolve their deadLetterSink to it.
func (e *env) deadLetterSink() *eventsink.Sink {
	if e.deadLetters == nil {
		e.deadLetters = eventsink.New(e.t)
	}
	return e.deadLetters
}

// countingHandler counts the requests a replica gets, by request id.
type countingHandler struct {
	next http.Handler
	mu   sync.Mutex
	seen map[string]int
	// total counts every request, the Broker's and the sources' alike:
	// what Knative's activator and autoscaler would see.
	total atomic.Int64
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.total.Add(1)
	if rid := r.Header.Get(broker.RequestIDHeader); rid != "" {
		h.mu.Lock()
		h.seen[rid]++
		h.mu.Unlock()
	}
	h.next.ServeHTTP(w, r)
}

func (h *countingHandler) calls(rid string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[rid]
}
