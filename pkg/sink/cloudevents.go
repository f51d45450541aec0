package sink

import (
	"context"
	"fmt"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// CloudEvents sends binary-mode CloudEvents over HTTP to Target, the
// K_SINK a SinkBinding or the Knative Service's sink gives us.
type CloudEvents struct {
	client cloudevents.Client
	target string
}

// NewCloudEvents returns a sender to target.
func NewCloudEvents(target string, client *http.Client) (*CloudEvents, error) {
	if client == nil {
		client = defaultClient()
	}
	withBox := *client
	next := withBox.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	withBox.Transport = retryAfterTransport{next: next}
	p, err := cloudevents.NewHTTP(cloudevents.WithTarget(target), cehttp.WithClient(withBox))
	if err != nil {
		return nil, fmt.Errorf("cloudevents sink %s: %w", target, err)
	}
	c, err := cloudevents.NewClient(p)
	if err != nil {
		return nil, fmt.Errorf("cloudevents sink %s: %w", target, err)
	}
	return &CloudEvents{client: c, target: target}, nil
}

// Send implements Sender. A 429 is waited out briefly (sendRetrying).
func (c *CloudEvents) Send(ctx context.Context, ev event.Event) error {
	return sendRetrying(ctx, defaultTooMany, func(ctx context.Context) error { return c.send(ctx, ev) })
}

func (c *CloudEvents) send(ctx context.Context, ev event.Event) error {
	box := &retryAfterBox{}
	res := c.client.Send(context.WithValue(ctx, retryAfterKey{}, box), ev)
	if cloudevents.IsACK(res) {
		return nil
	}
	var hr *cehttp.Result
	if cloudevents.ResultAs(res, &hr) {
		box.mu.Lock()
		defer box.mu.Unlock()
		return statusError(hr.StatusCode, res.Error(), box.d)
	}
	return transportError(res)
}
