package cluster

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/serve"
	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

const jobConfig = `apiVersion: v2
actions:
  - name: "Run tests"
    events:
      - name: "sh.keptn.event.test.triggered"
    tasks:
      - name: "Greet"
        image: "alpine:3.20"
        cmd: ["echo"]
        args: ["hello"]
`

// eventLog records the CloudEvents the function sends to K_SINK.
type eventLog struct {
	mu    sync.Mutex
	types []string
}

func (l *eventLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ev, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	l.types = append(l.types, ev.Type())
	l.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (l *eventLog) has(typ string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.types {
		if t == typ {
			return true
		}
	}
	return false
}

// The shipped RBAC is enough for the trigger path: the function, holding
// only its ServiceAccount's token, creates the Job in the job namespace and
// records .started on it.
func TestFunctionRunsAsItsServiceAccount(t *testing.T) {
	w := newRBACWorld(t)
	bed := testbed.Get(t)
	ctx := context.Background()
	cfg, err := manifests.ServiceAccountConfig(ctx, bed.RESTConfig(), w.fnNS, manifests.FunctionServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := manifests.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	configs := filepath.Join(dir, "configs")
	cfgFile := filepath.Join(configs, "project", "p", "stage", "s", "service", "v", "resource", "job", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte(jobConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	sent := &eventLog{}
	sinkSrv := httptest.NewServer(sent)
	t.Cleanup(sinkSrv.Close)

	fn := function.New()
	if err := fn.Start(ctx, map[string]string{
		"KUBECONFIG":       kubeconfig,
		"JOB_NAMESPACE":    w.jobNS,
		"KEPTN_CONFIG_DIR": configs,
		"K_SINK":           sinkSrv.URL,
		"POD_NAME":         "rbac-flow",
		"LOG_LEVEL":        "warn",
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fn.Stop(context.Background()) })
	srv := httptest.NewServer(serve.Handler(fn, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)

	ce := cloudevents.NewEvent()
	ce.SetID(uuid.NewString())
	ce.SetSource("shipyard-controller")
	ce.SetType("sh.keptn.event.test.triggered")
	ce.SetExtension("shkeptncontext", uuid.NewString())
	if err := ce.SetData(cloudevents.ApplicationJSON, map[string]any{"project": "p", "stage": "s", "service": "v"}); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&ce), req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("function answered %d: %s", resp.StatusCode, body)
	}

	// The record of .started is written after the answer; Stop waits for it.
	if err := fn.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := w.admin.BatchV1().Jobs(w.jobNS).List(ctx, metav1.ListOptions{LabelSelector: jobs.LabelManagedBy})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d Jobs in the job namespace, want 1", len(list.Items))
	}
	if list.Items[0].Annotations[jobs.AnnotationStarted] == "" {
		t.Error("the Job does not record that .started was sent")
	}
	if !sent.has("sh.keptn.event.test.started") {
		t.Errorf("sent %v, want a .started", sent.types)
	}
}
