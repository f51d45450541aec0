package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
)

// watchJobs runs Knative's real ApiServerSource adapter on our Jobs and
// their pods in e.ns, delivering to sink, as config/knative installs it.
func (e *env) watchJobs(sink string) {
	e.t.Helper()
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{jobs.LabelManagedBy: "keptn-job-executor"}}
	src := &sourcesv1.ApiServerSource{
		ObjectMeta: metav1.ObjectMeta{Name: "keptn-jobs", Namespace: e.ns},
		Spec: sourcesv1.ApiServerSourceSpec{
			EventMode: sourcesv1.ResourceMode,
			Resources: []sourcesv1.APIVersionKindSelector{
				{APIVersion: "batch/v1", Kind: "Job", LabelSelector: selector},
				{APIVersion: "v1", Kind: "Pod", LabelSelector: selector},
			},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adapter, err := e.bed.StartAdapter(ctx, src, sink)
	require.NoError(e.t, err)
	e.t.Cleanup(adapter.Stop)
}

// probe is an HTTP sink in front of one or more function replicas: it
// records every adapter event and forwards it to each replica, like two
// Triggers delivering the same event to two replicas.
type probe struct {
	srv     *httptest.Server
	targets []string
	mu      sync.Mutex
	seen    []string // subjects
}

func newProbe(t *testing.T, targets ...string) *probe {
	p := &probe{targets: targets}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *probe) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.seen = append(p.seen, r.Header.Get("Ce-Subject"))
	targets := p.targets
	p.mu.Unlock()
	status := http.StatusAccepted
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(string(body)))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				status = http.StatusBadGateway
				return
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 && resp.StatusCode > status {
				status = resp.StatusCode
			}
		}()
	}
	wg.Wait()
	w.WriteHeader(status)
}

func (p *probe) sawSubject(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.seen {
		if strings.HasSuffix(x, s) {
			return true
		}
	}
	return false
}

// startWatch starts the adapter towards a probe forwarding to the replicas
// and waits until a canary Job's event came through.
func (e *env) startWatch(replicas ...*replica) *probe {
	e.t.Helper()
	var urls []string
	for _, r := range replicas {
		urls = append(urls, r.url)
	}
	p := newProbe(e.t, urls...)
	e.watchJobsTo(p)
	return p
}

func (e *env) watchJobsTo(p *probe) {
	e.t.Helper()
	e.watchJobs(p.srv.URL)
	ctx := context.Background()
	name := "canary-" + uuid.NewString()[:8]
	job := newJob(name, map[string]string{jobs.LabelManagedBy: "keptn-job-executor"}, nil, container{"task", "alpine:3.20"})
	createJob(e.t, ctx, e.kube, e.ns, job)
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; !p.sawSubject("/jobs/" + name); i++ {
		if time.Now().After(deadline) {
			e.t.Fatalf("the adapter delivered nothing about canary job %s", name)
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"testbed.local/poke":"%d"}}}`, i)
		_, _ = e.kube.BatchV1().Jobs(e.ns).Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
		time.Sleep(200 * time.Millisecond)
	}
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
