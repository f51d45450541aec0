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
	p, err := cloudevents.NewHTTP(cloudevents.WithTarget(target), cehttp.WithClient(*client))
	if err != nil {
		return nil, fmt.Errorf("cloudevents sink %s: %w", target, err)
	}
	c, err := cloudevents.NewClient(p)
	if err != nil {
		return nil, fmt.Errorf("cloudevents sink %s: %w", target, err)
	}
	return &CloudEvents{client: c, target: target}, nil
}

// Send implements Sender.
func (c *CloudEvents) Send(ctx context.Context, ev event.Event) error {
	res := c.client.Send(ctx, ev)
	if cloudevents.IsACK(res) {
		return nil
	}
	var hr *cehttp.Result
	if cloudevents.ResultAs(res, &hr) {
		return statusError(hr.StatusCode, res.Error())
	}
	return transportError(res)
}
