package realnode

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/serve"
	"github.com/keptn-sandbox/job-executor-knative/test/harness"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// world is one test's setting on the real node: a restricted job
// namespace, the Keptn stand-in on the pods' bridge (the fetcher reaches it
// from its pod), one function replica with the bed's fetcher image, and
// Knative's ApiServerSource adapter delivering Job and pod changes to it.
type world struct {
	t     *testing.T
	bed   *testbed.Bed
	ns    string
	keptn *keptnstandin.Server
	fnURL string
}

// Generous: a bound on a missing .finished, not a speed claim.
const finishWithin = 3 * time.Minute

// newWorld starts the world; fnToken, if set, is the token the job
// namespace's Secret gives the fetcher instead of the right one.
func newWorld(t *testing.T, fnToken string, opts ...keptnstandin.Option) *world {
	t.Helper()
	bed := testbed.Get(t)
	w := &world{t: t, bed: bed, ns: bed.Namespace(t, testbed.Restricted())}
	w.keptn = keptnstandin.NewStarted(t, append(opts, keptnstandin.WithListen(testbed.PodBridgeIP+":0"))...)
	ctx := context.Background()
	// The Secret the fetcher reads; a wrong one shows the fetcher refused.
	if fnToken == "" {
		fnToken = w.keptn.Token()
	}
	require.NoError(t, harness.PrepareJobNamespace(ctx, bed.Client(), w.ns, fnToken))
	kubeconfig, _ := harness.FunctionKubeconfig(t, bed, w.ns)
	fn := function.New()
	require.NoError(t, fn.Start(ctx, map[string]string{
		"KUBECONFIG":         kubeconfig,
		"JOB_NAMESPACE":      w.ns,
		"KEPTN_API_URL":      w.keptn.APIURL(),
		"KEPTN_API_TOKEN":    w.keptn.Token(),
		"KEPTN_RESOURCE_URL": w.keptn.ResourceServiceURL(),
		"POD_NAME":           "replica-0",
		"FETCHER_IMAGE":      testbed.RealFetcherImage,
		"LOG_LEVEL":          "debug",
	}))
	srv := httptest.NewServer(serve.Handler(fn, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	w.fnURL = srv.URL
	harness.WatchJobs(t, bed, w.ns, harness.NewProbe(t, srv.URL), testbed.RealToolsImage)
	return w
}

// scope is where the tests' job configs live in the stand-in's repository.
var scope = map[string]any{"project": "realnode", "stage": "dev", "service": "svc"}

func resource(uri string) string {
	return fmt.Sprintf("project/%s/stage/%s/service/%s/resource/%s", scope["project"], scope["stage"], scope["service"], uri)
}

// commit stores the job config and files (by URI in the service) in the
// stand-in's repository.
func (w *world) commit(config string, files map[string]string) {
	raw := map[string][]byte{resource("job/config.yaml"): []byte(config)}
	for uri, content := range files {
		raw[resource(uri)] = []byte(content)
	}
	w.keptn.Commit(raw)
}

// run sends a .triggered of task to the function and returns the
// .finished the stand-in received for it.
func (w *world) run(task string) keptnstandin.Event {
	w.t.Helper()
	ce := harness.NewTriggered(task, scope, "")
	status, body, err := harness.Post(w.fnURL, ce)
	require.NoError(w.t, err)
	require.Equal(w.t, http.StatusAccepted, status, "%s", body)
	return w.waitFinished(ce)
}

func (w *world) waitFinished(ce event.Event) keptnstandin.Event {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), finishWithin)
	defer cancel()
	finished := strings.TrimSuffix(ce.Type(), ".triggered") + ".finished"
	ev, err := w.keptn.WaitFor(ctx, func(ev keptnstandin.Event) bool {
		return ev.Type == finished && ev.Triggeredid == ce.ID()
	})
	require.NoError(w.t, err, "no %s for %s within %s", finished, ce.ID(), finishWithin)
	return ev
}

// tools swaps a fixture's task images for the bed's tools image: the node
// has no registry to pull alpine from.
func tools(config string) string {
	for _, img := range []string{`"alpine"`, `"alpine:3.20"`} {
		config = strings.ReplaceAll(config, img, `"`+testbed.RealToolsImage+`"`)
	}
	return config
}

func sha256hex(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// oneTask is a job config with a single task of the test event.
func oneTask(image, extra string) string {
	return `apiVersion: v2
actions:
  - name: "Run tests"
    events:
      - name: "sh.keptn.event.test.triggered"
    tasks:
      - name: "run"
        image: "` + image + `"
` + extra
}
