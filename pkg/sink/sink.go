// Package sink is where this service's Keptn events go: Keptn's API, a
// CloudEvents sink (K_SINK, e.g. a Broker), or the log.
package sink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
)

// Sender delivers one event. Implementations return a *SendError, marked
// permanent (pkg/permanent) when trying again cannot help.
type Sender interface {
	Send(ctx context.Context, ev event.Event) error
}

// SendError is a failed delivery.
type SendError struct {
	// Status is the HTTP status answered, 0 when none was.
	Status int
	// RetryAfter is the receiver's Retry-After, 0 if it gave none.
	RetryAfter time.Duration
	Err        error
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("sending event: HTTP %d: %v", e.Status, e.Err)
	}
	return fmt.Sprintf("sending event: %v", e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// statusError is permanent unless the receiver was overloaded or failed
// (5xx, 408, 429): the same event may succeed later.
func statusError(status int, body string, retryAfter time.Duration) error {
	se := &SendError{Status: status, RetryAfter: retryAfter, Err: errors.New(body)}
	if status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests {
		return se
	}
	return permanent.New(se)
}

// transportError: no answer at all (refused, reset, timed out) is always
// worth another try.
func transportError(err error) error {
	return &SendError{Err: err}
}

// defaultClient is bounded in time and keeps a connection per concurrent
// send: net/http keeps only 2 idle per host, so at the function's
// concurrency most sends would open a new connection (a new TLS handshake
// towards Keptn's gateway).
func defaultClient() *http.Client { return NewHTTPClient(nil) }

// NewHTTPClient is the default client with tc (nil: Go's default) as its
// TLS: Keptn behind a private CA gets events over the same trust as its
// resources (KEPTN_CA_FILE).
func NewHTTPClient(tc *tls.Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	if tc != nil {
		t.TLSClientConfig = tc
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}
