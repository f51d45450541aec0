package sink

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

// tooManyRequests bounds how a Send rides out 429 Too Many Requests.
// Keptn's api-gateway-nginx answers 429 to every request from a client
// address after two failed authentications there, valid ones included, and
// lets a client that backs off through again after a few attempts. Waiting
// briefly inside Send gets the event out now instead of on the next Broker
// retry or sweep; a Retry-After longer than maxWait is left to those.
type tooManyRequests struct {
	attempts int
	initial  time.Duration
	maxWait  time.Duration
}

var defaultTooMany = tooManyRequests{attempts: 5, initial: 500 * time.Millisecond, maxWait: 10 * time.Second}

// sendRetrying calls send until it succeeds, fails otherwise than with 429,
// or the attempts or ctx run out. Each wait honours the server's
// Retry-After and is jittered (resources.Backoff).
func sendRetrying(ctx context.Context, p tooManyRequests, send func(context.Context) error) error {
	delay := p.initial
	for attempt := 1; ; attempt++ {
		err := send(ctx)
		var se *SendError
		if err == nil || !errors.As(err, &se) || se.Status != http.StatusTooManyRequests || attempt >= p.attempts {
			return err
		}
		wait := resources.Backoff(delay, se.RetryAfter)
		if wait > p.maxWait {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		delay *= 2
	}
}

// retryAfterBox carries a response's Retry-After out of the CloudEvents
// SDK, whose results have the status but not the headers.
type retryAfterBox struct {
	mu sync.Mutex
	d  time.Duration
}

type retryAfterKey struct{}

// retryAfterTransport records the Retry-After of a 429 or 503 into the
// request context's box.
type retryAfterTransport struct{ next http.RoundTripper }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if box, ok := req.Context().Value(retryAfterKey{}).(*retryAfterBox); ok {
			box.mu.Lock()
			box.d = resources.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			box.mu.Unlock()
		}
	}
	return resp, err
}
