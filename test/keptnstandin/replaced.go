package keptnstandin

import (
	"encoding/json"
	"time"
)

// publishedBody is what Keptn's api-service makes of an event it accepts
// (api/handlers/event_handler.go, Keptn 1.4.5): it replaces the id and the
// time with its own, and its model, which knows only shkeptnversion, drops
// shkeptnspecversion. A traceparent header is not passed on. So a receiver
// behind the api-service can never de-duplicate by the sender's id, and the
// function must not rely on anyone doing so.
func publishedBody(body []byte, id string, now time.Time) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil
	}
	m["id"] = id
	m["time"] = now.UTC().Format(time.RFC3339Nano)
	delete(m, "shkeptnspecversion")
	delete(m, "traceparent")
	out, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return out
}
