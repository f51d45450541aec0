package broker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	"knative.dev/eventing/pkg/channel"
	"knative.dev/eventing/pkg/channel/fanout"
	"knative.dev/eventing/pkg/eventingtls"
	"knative.dev/eventing/pkg/kncloudevents"
)

// RequestIDHeader is the header the channel files receipts under. Knative
// forwards it from hop to hop (knative.dev/eventing pkg/utils
// PassThroughHeaders keeps x-request-id, a tracing header), so a publisher
// that sets it finds its publication again in Channel.Deliveries.
const RequestIDHeader = "X-Request-Id"

// Channel stands in for the InMemoryChannel dispatcher behind an
// MTChannelBasedBroker: the broker ingress posts a Broker's events to it, and
// it hands each event to every Subscription of that Broker's channel, which
// the Trigger reconciler points at the broker filter.
//
// The hand-over is Knative's own fanout handler
// (knative.dev/eventing/pkg/channel/fanout, the one the InMemoryChannel
// dispatcher runs): Knative's channel receiver, then per Subscription
// Knative's dispatcher with the Subscription's retry, backoff, timeout, reply
// and dead-letter sink (kncloudevents), including the knativeerrordest,
// knativeerrorcode and knativeerrordata extensions on a dead letter. Like the
// InMemoryChannel, it answers the ingress after every Subscription's
// delivery ended, retries included, unless the channel carries the
// async-handler annotation (messaging.knative.dev/async-handler, which the
// Broker reconciler copies from the Broker): then it answers once the event
// is taken and delivers in the background, as the shipped Broker asks
// (platform/broker.yaml).
//
// What is ours: the HTTP server on loopback, routing by path
// "/<namespace>/<channel name>" (the dispatcher routes by host name), and
// the recording of each attempt (Deliveries) by wrapping the Subscription's
// retry check, which sees every attempt's response without changing the
// decision.
type Channel struct {
	srv *httptest.Server

	mu       sync.Mutex
	handlers map[string]*fanout.FanoutEventHandler
	subs     map[string][]string // Subscription names, by channel path
	receipts []*Receipt
	changed  chan struct{}
}

// Receipt is one request the channel received: one publication of an event
// (or one retry of it by the publisher).
type Receipt struct {
	Channel   string
	EventID   string
	RequestID string
	Received  time.Time

	// Attempts holds, per Subscription name, what each attempt got back, in
	// order. Guarded by the channel's lock; read it through Channel methods.
	attempts map[string][]Attempt
	// ended holds the Subscriptions whose delivery ended: the subscriber's
	// answer was final, or the retries were spent.
	ended map[string]bool
	subs  []string
	// Status is what the channel answered the ingress; 0 while in flight.
	Status   int
	answered bool
}

// Attempt is one request the channel's dispatcher sent to a subscriber.
type Attempt struct {
	// Status is the response's status, 0 for a transport error.
	Status int
	At     time.Time
}

// Done reports whether the channel answered the ingress and every
// Subscription's delivery ended (in the background, with an async handler).
func (d Receipt) Done() bool {
	if !d.answered {
		return false
	}
	for _, s := range d.subs {
		if !d.ended[s] {
			return false
		}
	}
	return true
}

// Answered reports whether the channel answered the ingress.
func (d Receipt) Answered() bool { return d.answered }

// Attempts returns the attempts made for Subscription sub.
func (d Receipt) Attempts(sub string) []Attempt { return d.attempts[sub] }

type deliveryKey struct{}

// NewChannel starts a channel on loopback; it stops with t.
func NewChannel() *Channel {
	c := &Channel{handlers: map[string]*fanout.FanoutEventHandler{}, subs: map[string][]string{}, changed: make(chan struct{})}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	return c
}

// Close stops the server.
func (c *Channel) Close() { c.srv.Close() }

// URL is the address of channel ns/name, for the Broker's
// knative.dev/channelAddress status annotation.
func (c *Channel) URL(ns, name string) string {
	return fmt.Sprintf("%s/%s/%s", c.srv.URL, ns, name)
}

// Subscribe sets the Subscriptions of channel ns/name, as the
// InMemoryChannel's spec.subscribers lists them once the Subscription
// reconciler resolved them (URIs, not references). async is the channel's
// async-handler annotation.
func (c *Channel) Subscribe(ns, name string, async bool, subscribers ...eventingduckv1.SubscriberSpec) error {
	subs := make([]fanout.Subscription, 0, len(subscribers))
	names := make([]string, 0, len(subscribers))
	for _, s := range subscribers {
		sub, err := fanout.SubscriberSpecToFanoutConfig(s)
		if err != nil {
			return fmt.Errorf("broker: subscription %v: %w", s.Name, err)
		}
		sub.Namespace = ns
		if sub.RetryConfig == nil {
			rc := kncloudevents.NoRetries()
			sub.RetryConfig = &rc
		}
		c.record(sub)
		subs = append(subs, *sub)
		names = append(names, sub.Name)
	}
	h, err := fanout.NewFanoutEventHandler(zap.NewNop(), fanout.Config{Subscriptions: subs, AsyncHandler: async}, nil, nil, nil,
		kncloudevents.NewDispatcher(eventingtls.ClientConfig{}, nil), nil, nil,
		channel.ResolveChannelFromPath(channel.ParseChannelFromPath))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.handlers["/"+ns+"/"+name] = h
	c.subs["/"+ns+"/"+name] = names
	c.mu.Unlock()
	return nil
}

// record wraps sub's retry check so every attempt at the subscriber lands
// in the Receipt the request belongs to, and the Receipt learns when the
// delivery ended. The check also runs for the dead-letter sink; those
// attempts are not the subscriber's and are left out.
//
// A synchronous handler passes the request's context down, which carries the
// Receipt. An async one dispatches with a fresh context, so the Receipt is
// found by the request id the attempt carries; an attempt that got no
// response at all (a transport error) is then not recorded, and the
// delivery counts as ended when its retries are spent or a final answer came.
func (c *Channel) record(sub *fanout.Subscription) {
	rc := *sub.RetryConfig
	check := rc.CheckRetry
	name := sub.Name
	target := sub.Subscriber.URL.Host
	rc.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		retry, cerr := check(ctx, resp, err)
		if resp != nil && resp.Request != nil && resp.Request.URL.Host != target {
			return retry, cerr
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		d, ok := ctx.Value(deliveryKey{}).(*Receipt)
		if !ok && resp != nil && resp.Request != nil {
			d = c.pendingReceipt(resp.Request.Header.Get(RequestIDHeader), name)
		}
		if d == nil {
			return retry, cerr
		}
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		d.attempts[name] = append(d.attempts[name], Attempt{Status: status, At: time.Now()})
		if !retry || cerr != nil || len(d.attempts[name]) > rc.RetryMax {
			d.ended[name] = true
		}
		c.notify()
		return retry, cerr
	}
	sub.RetryConfig = &rc
}

// pendingReceipt is the oldest receipt with request id rid whose delivery
// to sub has not ended; c.mu must be held.
func (c *Channel) pendingReceipt(rid, sub string) *Receipt {
	if rid == "" {
		return nil
	}
	for _, d := range c.receipts {
		if d.RequestID == rid && !d.ended[sub] {
			return d
		}
	}
	return nil
}

func (c *Channel) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	c.mu.Lock()
	h := c.handlers[path]
	d := &Receipt{
		Channel:   strings.TrimPrefix(path, "/"),
		EventID:   r.Header.Get("Ce-Id"),
		RequestID: r.Header.Get(RequestIDHeader),
		Received:  time.Now(),
		attempts:  map[string][]Attempt{},
		ended:     map[string]bool{},
		subs:      c.subs[path],
	}
	if h != nil && r.Method == http.MethodPost {
		c.receipts = append(c.receipts, d)
		c.notify()
	}
	c.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), deliveryKey{}, d)))
	c.mu.Lock()
	d.Status = sw.status
	d.answered = true
	if sw.status >= 300 {
		// Refused before any dispatch: nothing more will happen.
		for _, s := range d.subs {
			d.ended[s] = true
		}
	}
	c.notify()
	c.mu.Unlock()
}

// notify wakes every waiter; c.mu must be held.
func (c *Channel) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Deliveries returns copies of the receipts for which keep holds, in the
// order the channel received them.
func (c *Channel) Receipts(keep func(Receipt) bool) []Receipt {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Receipt
	for _, d := range c.receipts {
		cp := *d
		cp.attempts = map[string][]Attempt{}
		for k, v := range d.attempts {
			cp.attempts[k] = append([]Attempt(nil), v...)
		}
		cp.ended = map[string]bool{}
		for k, v := range d.ended {
			cp.ended[k] = v
		}
		if keep == nil || keep(cp) {
			out = append(out, cp)
		}
	}
	return out
}

// Wait blocks until cond holds for the receipts so far (checked at once
// and after every change) or ctx ends.
func (c *Channel) Wait(ctx context.Context, cond func(all []Receipt) bool) error {
	for {
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		if cond(c.Receipts(nil)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Cluster host names of the broker's parts. The Trigger reconciler points a
// Subscription at the filter's Service name, and Knative's dispatcher
// recognises a response from that host as the filter's (it unwraps the
// subscriber's URL and body for the dead-letter extensions from it), so the
// in-process parts must use these names too.
var (
	hostsMu sync.RWMutex
	hosts   = map[string]string{}
)

// MapHost makes in-process HTTP clients that start from
// http.DefaultTransport (Knative's dispatcher among them) connect to addr
// ("127.0.0.1:port") whenever they dial host ("name:port"), like cluster DNS
// and a Service would.
func MapHost(host, addr string) {
	hostsMu.Lock()
	defer hostsMu.Unlock()
	hosts[host] = addr
}

func init() {
	// Once, before any client clones the default transport.
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		hostsMu.RLock()
		to, ok := hosts[addr]
		hostsMu.RUnlock()
		if ok {
			addr = to
		}
		return dial(ctx, network, addr)
	}
}
