// Package harness holds the parts of the end-to-end world that the kwok
// tests (test/e2e), the real-node tests (test/realnode) and the demo share:
// a job namespace as config/knative prepares it, the function's own RBAC,
// Knative's ApiServerSource adapter on our Jobs, and posting events as
// Knative's senders do.
package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// PrepareJobNamespace makes ns a job namespace as config/knative does: the
// task pods' service account (no token) and the Secret with the Keptn token
// that only the fetcher reads. Objects that exist are kept.
func PrepareJobNamespace(ctx context.Context, kube kubernetes.Interface, ns, token string) error {
	_, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: "keptn-job"},
		AutomountServiceAccountToken: ptr.To(false),
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("service account keptn-job in %s: %w", ns, err)
	}
	_, err = kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "keptn-api-token"},
		StringData: map[string]string{"token": token},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("secret keptn-api-token in %s: %w", ns, err)
	}
	return nil
}

// FunctionKubeconfig authenticates as the function's ServiceAccount with
// exactly the RBAC config/knative ships, moved to a fresh function
// namespace and to jobNS as the job namespace: every test using it thereby
// proves that RBAC sufficient. It returns the kubeconfig's path and the
// function namespace.
func FunctionKubeconfig(t *testing.T, bed *testbed.Bed, jobNS string) (path, fnNS string) {
	t.Helper()
	ctx := context.Background()
	fnNS = bed.Namespace(t)
	objs, err := manifests.RBACFor(fnNS, jobNS)
	require.NoError(t, err)
	_, err = bed.ApplyObjects(ctx, "", objs...)
	require.NoError(t, err)
	rc, err := manifests.ServiceAccountConfig(ctx, bed.RESTConfig(), fnNS, manifests.FunctionServiceAccount)
	require.NoError(t, err)
	path = filepath.Join(t.TempDir(), "function.kubeconfig")
	require.NoError(t, manifests.WriteKubeconfig(rc, path))
	return path, fnNS
}

// JobsSource is the ApiServerSource config/knative installs: our Jobs and
// their pods in ns, in resource mode.
func JobsSource(ns string) *sourcesv1.ApiServerSource {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{jobs.LabelManagedBy: "keptn-job-executor"}}
	return &sourcesv1.ApiServerSource{
		ObjectMeta: metav1.ObjectMeta{Name: "keptn-jobs", Namespace: ns},
		Spec: sourcesv1.ApiServerSourceSpec{
			EventMode: sourcesv1.ResourceMode,
			Resources: []sourcesv1.APIVersionKindSelector{
				{APIVersion: "batch/v1", Kind: "Job", LabelSelector: selector},
				{APIVersion: "v1", Kind: "Pod", LabelSelector: selector},
			},
		},
	}
}

// Probe is an HTTP sink in front of one or more function replicas: it
// records every adapter event and forwards it to each replica, like two
// Triggers delivering the same event to two replicas.
type Probe struct {
	srv     *httptest.Server
	targets []string
	mu      sync.Mutex
	seen    []string // subjects
}

// NewProbe serves a probe forwarding to targets until t ends.
func NewProbe(t *testing.T, targets ...string) *Probe {
	p := &Probe{targets: targets}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is where the adapter delivers.
func (p *Probe) URL() string { return p.srv.URL }

func (p *Probe) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.seen = append(p.seen, r.Header.Get("Ce-Subject"))
	targets := p.targets
	p.mu.Unlock()
	status := http.StatusAccepted
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, target := range targets {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(string(body)))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				status = http.StatusBadGateway
				return
			}
			_ = resp.Body.Close()
			if resp.StatusCode >= 300 && resp.StatusCode > status {
				status = resp.StatusCode
			}
		})
	}
	wg.Wait()
	w.WriteHeader(status)
}

// SawSubject tells whether an event whose subject ends in s came through.
func (p *Probe) SawSubject(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.seen {
		if strings.HasSuffix(x, s) {
			return true
		}
	}
	return false
}

// WatchJobs runs Knative's real ApiServerSource adapter on our Jobs and
// their pods in ns, delivering to p, and waits until a canary Job's event
// came through: the adapter has no readiness signal. The canary's image is
// one the node can run (or simulate).
func WatchJobs(t *testing.T, bed *testbed.Bed, ns string, p *Probe, canaryImage string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adapter, err := bed.StartAdapter(ctx, JobsSource(ns), p.URL())
	require.NoError(t, err)
	t.Cleanup(adapter.Stop)
	name := "canary-" + uuid.NewString()[:8]
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{jobs.LabelManagedBy: "keptn-job-executor"}},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			// Restricted, so the canary runs in a restricted namespace too.
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{Name: "task", Image: canaryImage, Command: []string{"true"},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}}},
		}}},
	}
	_, err = bed.Client().BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err, "create canary job")
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; !p.SawSubject("/jobs/" + name); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the adapter delivered nothing about canary job %s", name)
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"testbed.local/poke":"%d"}}}`, i)
		_, _ = bed.Client().BatchV1().Jobs(ns).Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
		time.Sleep(200 * time.Millisecond)
	}
}

// Post sends ce to url once, binary mode with Prefer: reply, as Knative's
// dispatcher and the source adapters do.
func Post(url string, ce event.Event) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&ce), req); err != nil {
		return 0, nil, err
	}
	req.Header.Set("Prefer", "reply")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, nil
}

// Fixtures are the repository's own job configs, config-repo files and
// Keptn events (testdata/README.md at the repository root), seen from a
// test package's directory (test/<package>).
const Fixtures = "../../testdata/"

// Fixture reads a file of the repository's fixtures, for example
// "jobconfigs/hello-world.yaml".
func Fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Fixtures, name))
	require.NoError(t, err)
	return string(b)
}

// NewTriggered is a .triggered of task as Keptn's shipyard-controller
// sends it, at the given commit (none when commitID is empty).
func NewTriggered(task string, data map[string]any, commitID string) event.Event {
	ce := event.New()
	ce.SetID(uuid.NewString())
	ce.SetSource("shipyard-controller")
	ce.SetType("sh.keptn.event." + task + ".triggered")
	ce.SetTime(time.Now())
	ce.SetExtension("shkeptncontext", uuid.NewString())
	ce.SetExtension("shkeptnspecversion", "0.2.4")
	if commitID != "" {
		ce.SetExtension("gitcommitid", commitID)
	}
	_ = ce.SetData(event.ApplicationJSON, data)
	return ce
}

// GenericEvent is a CloudEvent that is not Keptn's, as a CI system would
// send one to the generic mode (docs/generic.md), with a new id.
func GenericEvent(typ, source, subject string, data map[string]any) event.Event {
	ce := event.New()
	ce.SetID(uuid.NewString())
	ce.SetSource(source)
	ce.SetType(typ)
	ce.SetSubject(subject)
	ce.SetTime(time.Now())
	_ = ce.SetData(event.ApplicationJSON, data)
	return ce
}
