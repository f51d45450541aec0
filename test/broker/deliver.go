// Package broker delivers CloudEvents to a subscriber the way a Knative
// Broker's Trigger does, for end-to-end tests without a Knative install.
//
// Delivery runs Knative Eventing's own dispatcher (knative.dev/eventing
// pkg/kncloudevents, the code the broker filter uses) at the eventing version
// the test module requires: binary content mode (ce-* headers), a
// "Prefer: reply" header, retries on 404, 408, 409, 429, 5xx and transport
// errors with the Trigger's backoff, no retry on other statuses (400 among
// them), and the event in a 2xx response taken as the reply.
package broker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	"knative.dev/eventing/pkg/eventingtls"
	"knative.dev/eventing/pkg/kncloudevents"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// Result is the outcome of one delivery.
type Result struct {
	// Status is the HTTP status of the last attempt; 0 if no attempt got a
	// response.
	Status int
	// Attempts counts the requests sent, the first one and every retry.
	Attempts int
	// Statuses holds each attempt's HTTP status in order (0 for an attempt
	// that got no response).
	Statuses []int
	// Reply is the event in the final 2xx response, nil if there was none.
	// A broker publishes it again (see Broker).
	Reply *event.Event
	// Err is set when the delivery failed: no 2xx after the allowed retries,
	// or a transport error.
	Err error
}

// DefaultDelivery is the delivery spec Knative's default broker config
// (config-br-defaults) gives Triggers that set none: 10 retries,
// exponential backoff from 0.2 s.
func DefaultDelivery() eventingduckv1.DeliverySpec {
	retry := int32(10)
	policy := eventingduckv1.BackoffPolicyExponential
	delay := "PT0.2S"
	return eventingduckv1.DeliverySpec{Retry: &retry, BackoffPolicy: &policy, BackoffDelay: &delay}
}

// Delivery returns a delivery spec with retry retries and exponential
// backoff starting at delay (an ISO 8601 duration such as "PT0.01S").
func Delivery(retry int32, delay string) eventingduckv1.DeliverySpec {
	policy := eventingduckv1.BackoffPolicyExponential
	return eventingduckv1.DeliverySpec{Retry: &retry, BackoffPolicy: &policy, BackoffDelay: &delay}
}

// dispatcher is shared like the broker filter's one; it holds no per-target
// state besides eventing's own client cache.
var dispatcher = kncloudevents.NewDispatcher(eventingtls.ClientConfig{}, nil)

// Deliver sends ev to target as a Trigger with the given delivery spec would
// (nil means DefaultDelivery) and reports what happened.
func Deliver(ctx context.Context, ev event.Event, target string, delivery *eventingduckv1.DeliverySpec) Result {
	if delivery == nil {
		d := DefaultDelivery()
		delivery = &d
	}
	url, err := apis.ParseURL(target)
	if err != nil {
		return Result{Err: fmt.Errorf("broker: bad target URL %q: %w", target, err)}
	}
	if url == nil || url.Host == "" {
		return Result{Err: fmt.Errorf("broker: bad target URL %q: no host", target)}
	}
	if err := ev.Validate(); err != nil {
		return Result{Err: fmt.Errorf("broker: invalid event: %w", err)}
	}
	retry, err := kncloudevents.RetryConfigFromDeliverySpec(*delivery)
	if err != nil {
		return Result{Err: fmt.Errorf("broker: delivery spec: %w", err)}
	}
	// CheckRetry runs after every attempt, so wrapping it counts them and
	// keeps each status without changing the retry decision.
	var (
		mu       sync.Mutex
		statuses []int
	)
	check := retry.CheckRetry
	retry.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		mu.Lock()
		statuses = append(statuses, status)
		mu.Unlock()
		return check(ctx, resp, err)
	}

	info, sendErr := dispatcher.SendEvent(ctx, ev, duckv1.Addressable{URL: url}, kncloudevents.WithRetryConfig(&retry))
	mu.Lock()
	res := Result{Attempts: len(statuses), Statuses: append([]int(nil), statuses...), Err: sendErr}
	mu.Unlock()
	if n := len(res.Statuses); n > 0 {
		res.Status = res.Statuses[n-1]
	}
	if sendErr == nil && info != nil {
		reply, err := replyEvent(ctx, info.ResponseHeader, info.ResponseBody)
		if err != nil {
			res.Err = err
		}
		res.Reply = reply
	}
	return res
}

// replyEvent decodes the event a subscriber answered with, in binary or
// structured mode; a response that is not an event is no reply.
func replyEvent(ctx context.Context, header http.Header, body []byte) (*event.Event, error) {
	msg := cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(body)))
	defer func() { _ = msg.Finish(nil) }()
	if msg.ReadEncoding() == binding.EncodingUnknown {
		return nil, nil
	}
	ev, err := binding.ToEvent(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("broker: reply is not a valid event: %w", err)
	}
	return ev, nil
}
