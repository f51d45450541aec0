package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/serve"
	"github.com/keptn-sandbox/job-executor-knative/test/eventsink"
	"github.com/keptn-sandbox/job-executor-knative/test/harness"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// env is one test's world: a namespace on the bed, a Keptn stand-in and
// function replicas talking to both.
type env struct {
	t        *testing.T
	ns       string
	kube     kubernetes.Interface
	keptn    *keptnstandin.Server
	bed      *testbed.Bed
	extraEnv map[string]string
	// kubeconfigs of the function's ServiceAccount, by job namespace.
	kubeconfigs map[string]string
	// fnNamespaces are the function namespaces those kubeconfigs' RBAC was
	// moved to, by job namespace.
	fnNamespaces map[string]string
	// deadLetters is the dead-letter sink of every replica's Broker.
	deadLetters *eventsink.Sink
	// keptnOpts configure the stand-in (withKeptn).
	keptnOpts []keptnstandin.Option
}

type envOption func(*env)

// withKeptn configures the Keptn stand-in, e.g. a lowered
// MAX_EVENT_SIZE_KB or gateway mode.
func withKeptn(opts ...keptnstandin.Option) envOption {
	return func(e *env) { e.keptnOpts = append(e.keptnOpts, opts...) }
}

// withFunctionEnv sets environment variables of the function replicas.
func withFunctionEnv(k, v string) envOption {
	return func(e *env) { e.extraEnv[k] = v }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	bed := testbed.Get(t)
	e := &env{
		t:           t,
		bed:         bed,
		ns:          testbed.Namespace(t),
		kube:        bed.Client(),
		extraEnv:    map[string]string{},
		kubeconfigs: map[string]string{},

		fnNamespaces: map[string]string{},
	}
	for _, o := range opts {
		o(e)
	}
	e.keptn = keptnstandin.NewStarted(t, append(e.keptnOpts, keptnstandin.WithTest(t))...)
	e.prepareNamespace(e.ns)
	t.Cleanup(func() { e.keptn.CheckContract(t) })
	return e
}

// functionKubeconfig authenticates as the function's ServiceAccount with
// exactly the RBAC config/knative ships, moved to a fresh function
// namespace and to e.ns as the job namespace: every end-to-end test thereby
// proves that RBAC sufficient.
func (e *env) functionKubeconfig() string {
	e.t.Helper()
	if path, ok := e.kubeconfigs[e.ns]; ok {
		return path
	}
	path, fnNS := harness.FunctionKubeconfig(e.t, e.bed, e.ns)
	e.kubeconfigs[e.ns] = path
	e.fnNamespaces[e.ns] = fnNS
	return path
}

// prepareNamespace makes ns a job namespace as config/knative does: the
// task pods' service account (no token) and the Secret with the Keptn token
// that only the fetcher reads.
func (e *env) prepareNamespace(ns string) {
	e.t.Helper()
	require.NoError(e.t, harness.PrepareJobNamespace(context.Background(), e.kube, ns, e.keptn.Token()))
}

// replica is one running copy of the function.
type replica struct {
	fn  *function.Function
	url string
	*countingHandler
}

// startFunction starts a function replica in this process, configured from
// the environment exactly as in a pod, and serves it over HTTP on loopback,
// behind its own copy of the shipped Broker and Trigger (wireBroker), so
// deliver(t, replica.url, ce) goes through Knative's broker.
func (e *env) startFunction(name string) *replica {
	e.t.Helper()
	cfg := map[string]string{
		"KUBECONFIG":         e.functionKubeconfig(),
		"JOB_NAMESPACE":      e.ns,
		"KEPTN_API_URL":      e.keptn.APIURL(),
		"KEPTN_API_TOKEN":    e.keptn.Token(),
		"KEPTN_RESOURCE_URL": e.keptn.ResourceServiceURL(),
		"POD_NAME":           name,
		"FETCHER_IMAGE":      "ghcr.io/keptn-sandbox/job-executor-knative/initcontainer:e2e",
		"LOG_LEVEL":          "debug",
	}
	for k, v := range e.extraEnv {
		cfg[k] = v
	}
	fn := function.New()
	require.NoError(e.t, fn.Start(context.Background(), cfg))
	counter := &countingHandler{next: serve.Handler(fn, slog.New(slog.NewTextHandler(io.Discard, nil))), seen: map[string]int{}}
	srv := httptest.NewServer(counter)
	e.t.Cleanup(srv.Close)
	r := &replica{fn: fn, url: srv.URL, countingHandler: counter}
	e.wireBroker(r)
	return r
}

// commit stores files in the stand-in's repository (keys in its layout,
// e.g. "project/p/stage/s/service/v/resource/job/config.yaml") and returns
// the commit id.
func (e *env) commit(files map[string]string) string {
	raw := map[string][]byte{}
	for k, v := range files {
		raw[k] = []byte(v)
	}
	return e.keptn.Commit(raw)
}

func serviceResource(p, s, v, uri string) string {
	return fmt.Sprintf("project/%s/stage/%s/service/%s/resource/%s", p, s, v, uri)
}

// readFixture reads a file of the repository's fixtures, for example
// "jobconfigs/hello-world.yaml".
func readFixture(t *testing.T, name string) string { return harness.Fixture(t, name) }

// taskEvent reads a .triggered fixture of testdata/events/e2e, in the shape
// Keptn's shipyard-controller sends through the distributor, and gives it
// what Keptn gives every new task: a fresh id and shkeptncontext, the time,
// and the commit the sequence runs at (none when commitID is empty).
func taskEvent(t *testing.T, name, commitID string) event.Event {
	t.Helper()
	var ce event.Event
	require.NoError(t, json.Unmarshal([]byte(readFixture(t, "events/e2e/"+name+".triggered.json")), &ce))
	ce.SetID(uuid.NewString())
	ce.SetTime(time.Now())
	ce.SetExtension("shkeptncontext", uuid.NewString())
	if commitID != "" {
		ce.SetExtension("gitcommitid", commitID)
	}
	require.NoError(t, ce.Validate())
	return ce
}

func newTriggered(task string, data map[string]any, commitID string) event.Event {
	return harness.NewTriggered(task, data, commitID)
}

// deliver has Keptn's distributor publish ce into the Broker in front of the
// replica at url (see broker_harness_test.go): Knative's ingress, channel
// fan-out and filter apply the shipped Trigger's filters and delivery (retry
// with backoff, dead letter). It returns once the Broker is done and gives
// the status the function answered the Broker's last attempt, or 0 if the
// Trigger did not deliver ce.
func deliver(t *testing.T, url string, ce event.Event) int {
	t.Helper()
	p := routeOf(t, url).publish(t, ce)
	status := p.status()
	switch {
	case status == 0:
		t.Logf("the Trigger did not deliver %s (%s); distributor: %+v", ce.ID(), ce.Type(), p.sent)
	case status >= 300:
		t.Logf("delivery of %s (%s) ended with %d after attempts %v", ce.ID(), ce.Type(), status, p.attempts())
	}
	return status
}

// deliverDirect posts ce straight to the function at url, as a Broker's
// dispatcher would (binary mode, Prefer: reply), and returns its answer. Only
// tests of the function's HTTP surface (400, 413, health) use it; every
// other delivery goes through deliver.
func deliverDirect(t *testing.T, url string, ce event.Event) int {
	t.Helper()
	status, body, err := post(url, ce)
	require.NoError(t, err)
	if status >= 300 {
		t.Logf("direct post of %s answered %d: %s", ce.Type(), status, bytes.TrimSpace(body))
	}
	return status
}

// post sends ce to url once, as Knative's dispatcher does; the PingSource
// and ApiServerSource adapters, whose sink is the function itself
// (platform/sources.yaml), use it too.
func post(url string, ce event.Event) (int, []byte, error) { return harness.Post(url, ce) }

// jobsOf lists our Jobs for the triggered event id.
func (e *env) jobsOf(eventID string) []batchv1.Job {
	e.t.Helper()
	list, err := e.kube.BatchV1().Jobs(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{LabelSelector: jobs.LabelManagedBy})
	require.NoError(e.t, err)
	var out []batchv1.Job
	for _, j := range list.Items {
		if j.Annotations[jobs.AnnotationEventID] == eventID {
			out = append(out, j)
		}
	}
	return out
}

// eventsFor returns the events the stand-in accepted for triggered id.
func (e *env) eventsFor(triggeredID, typ string) []keptnstandin.Event {
	var out []keptnstandin.Event
	for _, ev := range e.keptn.EventsOfType(typ) {
		if ev.Triggeredid == triggeredID {
			out = append(out, ev)
		}
	}
	return out
}

// deliverUntilAccepted publishes ce through the Broker until the function
// took it: the Broker retries within the distributor's 5 s, and a
// publication the distributor gave up on is published again, as Keptn would
// after its sequence timed out. A 4xx is final.
func deliverUntilAccepted(t *testing.T, url string, ce event.Event) {
	t.Helper()
	for range 5 {
		s := deliver(t, url, ce)
		if s >= 200 && s < 300 {
			return
		}
		if s >= 400 && s < 500 {
			t.Errorf("delivery of %s answered %d", ce.ID(), s)
			return
		}
	}
	t.Errorf("delivery of %s never accepted", ce.ID())
}
