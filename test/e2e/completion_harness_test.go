package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/test/harness"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
)

// startWatch starts the adapter towards a probe forwarding to the replicas
// and waits until a canary Job's event came through.
func (e *env) startWatch(replicas ...*replica) *harness.Probe {
	e.t.Helper()
	var urls []string
	for _, r := range replicas {
		urls = append(urls, r.url)
	}
	p := harness.NewProbe(e.t, urls...)
	harness.WatchJobs(e.t, e.bed, e.ns, p, "alpine:3.20")
	return p
}

// ping delivers a PingSource tick to url as the PingSource adapter does:
// straight to its sink, the function (platform/sources.yaml), not through
// the Broker.
func ping(t *testing.T, url string) int {
	t.Helper()
	status, body, err := post(url, pingEvent())
	require.NoError(t, err)
	if status >= 300 {
		t.Logf("ping answered %d: %s", status, strings.TrimSpace(string(body)))
	}
	return status
}

func pingEvent() event.Event {
	ce := event.New()
	ce.SetID(uuid.NewString())
	ce.SetSource("/apis/v1/namespaces/keptn/pingsources/keptn-job-sweep")
	ce.SetType("dev.knative.sources.ping")
	_ = ce.SetData(event.ApplicationJSON, map[string]string{})
	return ce
}

// waitFinished waits for the .finished of triggered event id.
func (e *env) waitFinished(id, task string, within time.Duration) keptnstandin.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ev, err := e.keptn.WaitFor(ctx, func(ev keptnstandin.Event) bool {
		return ev.Type == "sh.keptn.event."+task+".finished" && ev.Triggeredid == id
	})
	require.NoError(e.t, err, "no .finished for %s within %s", id, within)
	return ev
}

func (e *env) setConfig(yaml string) {
	e.commit(map[string]string{serviceResource("e2e-project", "e2e", "e2e-service", "job/config.yaml"): yaml})
}

var scope = map[string]any{"project": "e2e-project", "stage": "e2e", "service": "e2e-service"}

func testConfig(image string, extra string) string {
	return fmt.Sprintf(`apiVersion: v2
actions:
  - name: "Run tests"
    events:
      - name: "sh.keptn.event.test.triggered"
    tasks:
      - name: "prepare"
        image: "alpine:3.20"
        cmd: [echo, preparing]
      - name: "run"
        image: %q
        cmd: [sh, -c, "run the tests"]
%s`, image, extra)
}
