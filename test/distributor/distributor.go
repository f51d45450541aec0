// Package distributor sends events to a recipient the way Keptn's
// distributor forwards what it receives from Keptn's event bus: one
// structured-mode CloudEvent POST per event (Content-Type
// application/cloudevents+json, the whole event as JSON in the body), made
// with the CloudEvents Go SDK's HTTP client as Keptn's go-utils event sender
// makes it, within a 5 s deadline per event, with the SDK's few quick
// retries inside that deadline, and never again afterwards: an event the
// recipient did not take within 5 s is dropped. Redelivery after that is the
// Broker's job, not the distributor's.
package distributor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

const (
	// Timeout bounds each event's send, retries included.
	Timeout = 5 * time.Second
	// Retries is how often a failed send is tried again within Timeout.
	Retries = 3
	// RetryDelay is the first backoff; it doubles with each retry, so the
	// retries come at about 0.5, 1.5 and 3.5 s, inside Timeout.
	RetryDelay = 500 * time.Millisecond
)

// Distributor forwards events to one recipient (PUBSUB_RECIPIENT and its
// port and path).
type Distributor struct {
	recipient string
	client    cloudevents.Client
}

// New returns a distributor forwarding to recipient, for example a Broker's
// address.
func New(recipient string) (*Distributor, error) {
	p, err := cloudevents.NewHTTP(cloudevents.WithTarget(recipient))
	if err != nil {
		return nil, err
	}
	c, err := cloudevents.NewClient(p, cloudevents.WithTimeNow())
	if err != nil {
		return nil, err
	}
	return &Distributor{recipient: recipient, client: c}, nil
}

// Result is what became of one event.
type Result struct {
	// Status is the recipient's last answer, 0 if none came.
	Status int
	// Attempts counts the POSTs made, the first and the retries.
	Attempts int
	// Err is set when the event was not taken: the recipient answered with
	// an error status after the retries, or the 5 s ran out.
	Err error
}

// Send forwards ev once, with the retries and the deadline above. Headers
// in header go with every POST (a test uses broker.RequestIDHeader to find
// the publication again downstream).
func (d *Distributor) Send(ctx context.Context, ev event.Event, header http.Header) Result {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	ctx = cloudevents.WithEncodingStructured(ctx)
	ctx = cloudevents.ContextWithRetriesExponentialBackoff(ctx, RetryDelay, Retries)
	for k, vs := range header {
		for _, v := range vs {
			ctx = cehttp.WithCustomHeader(ctx, headerWith(ctx, k, v)) //nolint:fatcontext // each header adds to the ones before
		}
	}
	res := d.client.Send(ctx, ev)
	out := Result{Attempts: 1}
	var retries *cehttp.RetriesResult
	if errors.As(res, &retries) {
		out.Attempts += retries.Retries
		res = retries.Result
	}
	var httpResult *cehttp.Result
	if errors.As(res, &httpResult) {
		out.Status = httpResult.StatusCode
	}
	if !cloudevents.IsACK(res) {
		out.Err = fmt.Errorf("distributor: %s not taken by %s after %d attempt(s): %w", ev.ID(), d.recipient, out.Attempts, res)
	}
	return out
}

// headerWith adds k: v to the custom headers already in ctx.
func headerWith(ctx context.Context, k, v string) http.Header {
	h := cehttp.HeaderFrom(ctx).Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Add(k, v)
	return h
}

// Subscribed reports whether the distributor forwards an event of type
// eventType when configured with topics (PUBSUB_TOPIC: comma-separated NATS
// subjects, where "*" stands for one dot-separated token and a final ">"
// for one or more).
func Subscribed(topics, eventType string) bool {
	for _, topic := range strings.Split(topics, ",") {
		if subjectMatches(strings.Split(strings.TrimSpace(topic), "."), strings.Split(eventType, ".")) {
			return true
		}
	}
	return false
}

func subjectMatches(pattern, subject []string) bool {
	for i, p := range pattern {
		if p == ">" && i == len(pattern)-1 {
			return len(subject) > i
		}
		if i >= len(subject) || (p != "*" && p != subject[i]) {
			return false
		}
	}
	return len(pattern) == len(subject)
}
