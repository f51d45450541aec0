package sink

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// KeptnAPI posts events to Keptn's api-service (POST <base>/v1/event with
// x-token), in the structured JSON form Keptn's own clients send.
type KeptnAPI struct {
	// BaseURL is e.g. http://api-service.keptn:8080 or
	// https://keptn.example.com/api (through the api-gateway).
	BaseURL string
	Token   string
	Client  *http.Client
}

// NewKeptnAPI returns a sender with a bounded HTTP client.
func NewKeptnAPI(baseURL, token string, client *http.Client) *KeptnAPI {
	if client == nil {
		client = defaultClient()
	}
	return &KeptnAPI{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token, Client: client}
}

// keptnEvent is Keptn's KeptnContextExtendedCE wire form: CloudEvents
// attributes at top level, with "contenttype" instead of "datacontenttype".
type keptnEvent struct {
	Contenttype        string          `json:"contenttype,omitempty"`
	Data               json.RawMessage `json:"data"`
	ID                 string          `json:"id,omitempty"`
	Shkeptncontext     string          `json:"shkeptncontext,omitempty"`
	Shkeptnspecversion string          `json:"shkeptnspecversion,omitempty"`
	Source             string          `json:"source"`
	Specversion        string          `json:"specversion,omitempty"`
	Time               *time.Time      `json:"time,omitempty"`
	Triggeredid        string          `json:"triggeredid,omitempty"`
	GitCommitID        string          `json:"gitcommitid,omitempty"`
	Type               string          `json:"type"`
}

// KeptnBody encodes ev as Keptn's API expects it.
func KeptnBody(ev event.Event) ([]byte, error) {
	ext := ev.Extensions()
	str := func(k string) string {
		s, _ := ext[k].(string)
		return s
	}
	ke := keptnEvent{
		Contenttype:        "application/json",
		Data:               ev.Data(),
		ID:                 ev.ID(),
		Shkeptncontext:     str("shkeptncontext"),
		Shkeptnspecversion: str("shkeptnspecversion"),
		Source:             ev.Source(),
		Specversion:        ev.SpecVersion(),
		Triggeredid:        str("triggeredid"),
		GitCommitID:        str("gitcommitid"),
		Type:               ev.Type(),
	}
	if t := ev.Time(); !t.IsZero() {
		ke.Time = &t
	}
	return json.Marshal(ke)
}

// Send implements Sender. A 429 is waited out briefly (sendRetrying).
func (k *KeptnAPI) Send(ctx context.Context, ev event.Event) error {
	return sendRetrying(ctx, defaultTooMany, func(ctx context.Context) error { return k.send(ctx, ev) })
}

func (k *KeptnAPI) send(ctx context.Context, ev event.Event) error {
	body, err := KeptnBody(ev)
	if err != nil {
		return permanent.New(&SendError{Err: fmt.Errorf("encoding %s: %w", ev.Type(), err)})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.BaseURL+"/v1/event", bytes.NewReader(body))
	if err != nil {
		return permanent.New(&SendError{Err: err})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-token", k.Token)
	// Trace context travels as the W3C header: Keptn's event model has no
	// field for it.
	if tp, ok := ev.Extensions()["traceparent"].(string); ok && tp != "" {
		req.Header.Set("traceparent", tp)
	}
	resp, err := k.Client.Do(req)
	if err != nil {
		return transportError(redact(err, k.Token))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return statusError(resp.StatusCode, strings.TrimSpace(string(msg)), resources.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	return nil
}

// redact keeps the token out of errors that quote a request.
func redact(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), token, "[redacted]"))
}
