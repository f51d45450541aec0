package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// The Keptn scope of every benchmark event.
const (
	project   = "bench"
	stage     = "dev"
	service   = "svc"
	task      = "test"
	fetcher   = "ghcr.io/keptn-sandbox/job-executor-knative/initcontainer:bench"
	tokenName = "keptn-api-token"
)

// benchConfig is a one-action, one-task job/config.yaml running image.
func benchConfig(image string) string {
	return fmt.Sprintf(`apiVersion: v2
actions:
  - name: "Run tests"
    events:
      - name: "sh.keptn.event.%s.triggered"
    tasks:
      - name: "run"
        image: %q
        cmd: [sh, -c, "run the tests"]
`, task, image)
}

// world is one benchmark's part of the bed: a namespace that is deleted,
// and waited for, at the end (so the next benchmark runs on a quiet bed), a
// Keptn stand-in with the config committed, and an unthrottled client.
type world struct {
	tb     testing.TB
	bed    *testbed.Bed
	kube   kubernetes.Interface
	ns     string
	keptn  *keptnstandin.Server
	commit string
	image  string
	// keptnURL is where the function reaches Keptn: the stand-in, or a
	// handler in front of it.
	keptnURL string
	// asFunction is a client config of the function's ServiceAccount with
	// the RBAC config/knative ships, and kubeconfig its file: the function
	// and the baselines run under API Priority and Fairness as in a
	// cluster, never as system:masters (which APF exempts).
	asFunction *rest.Config
	kubeconfig string
	// fnNS is the function's own namespace (its PingSource lives there).
	fnNS string
	// lister is rawList's client, made on first use.
	lister kubernetes.Interface
}

// worldOption changes a world before it starts.
type worldOption func(*worldOptions)

type worldOptions struct {
	front func(http.Handler) http.Handler
}

// withKeptnFront puts front in front of the Keptn stand-in, to see the
// requests the function makes.
func withKeptnFront(front func(http.Handler) http.Handler) worldOption {
	return func(o *worldOptions) { o.front = front }
}

func newWorld(tb testing.TB, image string, opts ...worldOption) *world {
	tb.Helper()
	var o worldOptions
	for _, opt := range opts {
		opt(&o)
	}
	bed := testbed.Get(tb)
	w := &world{tb: tb, bed: bed, kube: rawClient(tb, bed), image: image}
	w.ns = w.namespace()
	if o.front == nil {
		w.keptn = keptnstandin.NewStarted(tb)
		w.keptnURL = w.keptn.URL()
	} else {
		k, err := keptnstandin.New(keptnstandin.WithTest(tb))
		must(tb, err)
		srv := httptest.NewServer(o.front(k))
		tb.Cleanup(srv.Close)
		w.keptn, w.keptnURL = k, srv.URL
	}
	w.commit = w.keptn.Commit(map[string][]byte{
		fmt.Sprintf("project/%s/stage/%s/service/%s/resource/%s", project, stage, service, jobconfig.ResourceURI): []byte(benchConfig(image)),
	})
	ctx := context.Background()
	no := false
	_, err := w.kube.CoreV1().ServiceAccounts(w.ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "keptn-job"}, AutomountServiceAccountToken: &no,
	}, metav1.CreateOptions{})
	must(tb, err)
	_, err = w.kube.CoreV1().Secrets(w.ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: tokenName},
		StringData: map[string]string{"token": w.keptn.Token()},
	}, metav1.CreateOptions{})
	must(tb, err)
	// Task containers' logs, read for .finished.
	must(tb, bed.SetLogs(ctx, w.ns, "", "ok\n"))
	w.identity(ctx)
	return w
}

// identity gives the world the function's ServiceAccount, in a function
// namespace of its own, with the shipped RBAC for w.ns.
func (w *world) identity(ctx context.Context) {
	fnNS := w.namespace()
	w.fnNS = fnNS
	objs, err := manifests.RBACFor(fnNS, w.ns)
	must(w.tb, err)
	_, err = w.bed.ApplyObjects(ctx, "", objs...)
	must(w.tb, err)
	rc, err := manifests.ServiceAccountConfig(ctx, w.bed.RESTConfig(), fnNS, manifests.FunctionServiceAccount)
	must(w.tb, err)
	rc.QPS, rc.Burst = -1, 0
	// The baselines speak protobuf, as the function does (function/start.go).
	rc.ContentType = runtime.ContentTypeProtobuf
	rc.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	w.asFunction = rc
	w.kubeconfig = filepath.Join(w.tb.TempDir(), "function.kubeconfig")
	must(w.tb, manifests.WriteKubeconfig(rc, w.kubeconfig))
}

// functionClient is an unthrottled client with the function's identity,
// for the baselines: they then meet the same APF priority level.
func (w *world) functionClient() kubernetes.Interface {
	kube, err := kubernetes.NewForConfig(w.asFunction)
	must(w.tb, err)
	return kube
}

// rawClient is the admin client without client-go's rate limiter: the
// baselines measure the API server, not a client-side queue.
func rawClient(tb testing.TB, bed *testbed.Bed) kubernetes.Interface {
	kube, err := kubernetes.NewForConfig(restConfig(bed))
	must(tb, err)
	return kube
}

// restConfig is rawClient's configuration.
func restConfig(bed *testbed.Bed) *rest.Config {
	rc := bed.RESTConfig()
	rc.QPS, rc.Burst = -1, 0
	return rc
}

// namespace creates a namespace for the benchmark; at cleanup it is deleted
// and the deletion (of every Job and pod in it) waited for.
func (w *world) namespace() string {
	ctx := context.Background()
	ns, err := w.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   testbed.NamespaceName(w.tb.Name(), uuid.NewString()[:6]),
		Labels: map[string]string{"testbed.local/test": "true"},
	}}, metav1.CreateOptions{})
	must(w.tb, err)
	w.tb.Cleanup(func() {
		// Jobs and pods go first, in one call each: the namespace and
		// garbage collectors, held to the controller-manager's 20 QPS,
		// would take minutes over thousands of them.
		orphan, now := metav1.DeletePropagationOrphan, int64(0)
		_ = w.kube.BatchV1().Jobs(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &orphan}, metav1.ListOptions{})
		_ = w.kube.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &now}, metav1.ListOptions{})
		bg := metav1.DeletePropagationBackground
		_ = w.kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
		begin := time.Now()
		deadline := begin.Add(5 * time.Minute)
		for time.Now().Before(deadline) {
			if _, err := w.kube.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				w.tb.Logf("namespace %s deleted in %s", ns.Name, time.Since(begin).Round(time.Millisecond))
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		w.tb.Logf("namespace %s still terminating after 5 minutes", ns.Name)
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := w.kube.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return ns.Name
		}
		if time.Now().After(deadline) {
			w.tb.Fatalf("no default ServiceAccount in %s", ns.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// functionEnv is the function's environment as in a pod, pointed at the
// bed and the stand-in.
func (w *world) functionEnv(podName string) map[string]string {
	return map[string]string{
		"KUBECONFIG":         w.kubeconfig,
		"JOB_NAMESPACE":      w.ns,
		"KEPTN_API_URL":      w.keptnURL,
		"KEPTN_API_TOKEN":    w.keptn.Token(),
		"KEPTN_RESOURCE_URL": w.keptnURL,
		"POD_NAME":           podName,
		"FETCHER_IMAGE":      fetcher,
		// For experiments by hand: BENCH_KUBE_EVENTS=false.
		"KUBE_EVENTS": os.Getenv("BENCH_KUBE_EVENTS"),
	}
}

// settings are the jobs.Settings the function derives from functionEnv,
// read by the function's own reader, for baselines that build the same
// Jobs.
func (w *world) settings() jobs.Settings {
	s, err := function.JobSettings(w.functionEnv(""))
	must(w.tb, err)
	return s
}

// config is the committed config, parsed.
func (w *world) config() *jobconfig.Config {
	cfg, err := jobconfig.Parse(jobconfig.ResourceURI, []byte(benchConfig(w.image)))
	must(w.tb, err)
	return cfg
}

// triggered is a fresh .triggered event at the world's commit, as
// Keptn's shipyard-controller sends it.
func (w *world) triggered() event.Event {
	ce := event.New()
	ce.SetID(uuid.NewString())
	ce.SetSource("shipyard-controller")
	ce.SetType(keptn.TaskType(task, keptn.KindTriggered))
	ce.SetTime(time.Now())
	ce.SetExtension(keptn.ExtContext, uuid.NewString())
	ce.SetExtension("shkeptnspecversion", "0.2.4")
	ce.SetExtension(keptn.ExtGitCommitID, w.commit)
	ce.SetExtension("traceparent", "00-"+randHex(16)+"-"+randHex(8)+"-01")
	_ = ce.SetData(event.ApplicationJSON, map[string]any{"project": project, "stage": stage, "service": service})
	return ce
}

// randHex is n random bytes in hex.
func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// taskEvent parses ce as the function does.
func taskEvent(tb testing.TB, ce event.Event) *keptn.TaskEvent {
	ev, err := keptn.ParseTaskEvent(ce)
	must(tb, err)
	return ev
}

// httpDoer is the part of *http.Client post uses.
type httpDoer interface {
	Do(req *http.Request) (*http.Response, error)
}

// post sends ce as a Knative Broker does (binary mode) and returns the
// status.
func post(ctx context.Context, client httpDoer, url string, ce event.Event) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, err
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&ce), req); err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, buf[:n])
	}
	return resp.StatusCode, nil
}

// httpClient keeps enough idle connections for n concurrent senders.
func httpClient(n int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 2*n, 2*n
	return &http.Client{Transport: t, Timeout: 60 * time.Second}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// summary prints a result line for make bench and docs/benchmarks.md.
func summary(format string, args ...any) {
	fmt.Printf("summary: "+format+"\n", args...)
}
