package function

import (
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	batchv1client "k8s.io/client-go/kubernetes/typed/batch/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeClient builds the Kubernetes clients; wrap counts their requests.
func kubeClient(kubeconfig string, wrap func(http.RoundTripper) http.RoundTripper) (*kubeClients, *rest.Config, error) {
	var rc *rest.Config
	var err error
	if kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client config: %w", err)
	}
	// No client-side rate limit (client-go's default is 5 QPS): it only
	// queues events behind itself (50 QPS held the function to 22 events/s).
	// What is in flight is bounded already, by the Service's
	// containerConcurrency and the sweep's Concurrency, and the API server
	// protects itself: measured as the function's ServiceAccount under API
	// Priority and Fairness (the default FlowSchema service-accounts, level
	// workload-low), bursts were neither rejected nor queued for long, and a
	// 429 would be retried by client-go after its Retry-After
	// (docs/benchmarks.md, "Identity").
	rc.QPS, rc.Burst = -1, 0
	// Protobuf, as Kubernetes' own controllers speak it: a sweep decodes
	// thousands of Jobs and pods, and JSON decoding is what its memory and
	// time went to (docs/benchmarks.md, "Many running Jobs"). The dynamic
	// client (PingSource) sets JSON for itself.
	rc.ContentType = runtime.ContentTypeProtobuf
	rc.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	rc.Wrap(wrap)
	kube, err := newKubeClients(rc)
	return kube, rc, err
}

// kubeClients are the clients of the API groups the function uses, over one
// HTTP client (one connection, one TLS handshake). Not a
// *kubernetes.Clientset: the binary reaches reflection on methods (the
// JSONPath filters' gval, text/template), so the linker keeps every method
// of a type held in an interface, and a clientset held in one drags in the
// client of every API group: 9 MB more binary and resident memory
// (docs/benchmarks.md, "Scale from zero").
type kubeClients struct {
	batch  *batchv1client.BatchV1Client
	core   *corev1client.CoreV1Client
	events *eventsv1client.EventsV1Client
}

func newKubeClients(rc *rest.Config) (*kubeClients, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	var k kubeClients
	if k.batch, err = batchv1client.NewForConfigAndClient(rc, hc); err != nil {
		return nil, fmt.Errorf("kubernetes batch/v1 client: %w", err)
	}
	if k.core, err = corev1client.NewForConfigAndClient(rc, hc); err != nil {
		return nil, fmt.Errorf("kubernetes core/v1 client: %w", err)
	}
	if k.events, err = eventsv1client.NewForConfigAndClient(rc, hc); err != nil {
		return nil, fmt.Errorf("kubernetes events.k8s.io/v1 client: %w", err)
	}
	return &k, nil
}

// BatchV1 is the batch/v1 client (Jobs).
func (k *kubeClients) BatchV1() batchv1client.BatchV1Interface { return k.batch }

// CoreV1 is the core/v1 client (Pods, their logs, ConfigMaps).
func (k *kubeClients) CoreV1() corev1client.CoreV1Interface { return k.core }

// EventsV1 is the events.k8s.io/v1 client (Kubernetes Events on Jobs).
func (k *kubeClients) EventsV1() eventsv1client.EventsV1Interface { return k.events }
