package testbed

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KnativeSystemNamespace is the namespace Knative's data-plane processes
// read their ConfigMaps from (SYSTEM_NAMESPACE), as in an install.
const KnativeSystemNamespace = "knative-eventing"

// BrokerPlane is Knative's MTChannelBasedBroker data plane, the broker
// ingress and the broker filter, running as processes against the bed. Like
// in a cluster, one pair serves every Broker and Trigger of the bed; they
// learn Brokers and Triggers from the API server through informers and read
// only what the eventing controller would have written into their status
// (see Bed.StartBrokerPlane).
type BrokerPlane struct {
	// IngressURL is the ingress's base URL; events for Broker ns/name go to
	// IngressURL + "/ns/name".
	IngressURL string
	// FilterURL is the filter's base URL; a Trigger's deliveries go to
	// FilterURL + "/triggers/<ns>/<name>/<uid>".
	FilterURL string

	ingress, filter *process
}

// StartBrokerPlane starts the broker ingress and filter once per bed and
// returns them; later calls return the same processes. Both run with the
// bed's admin kubeconfig, SYSTEM_NAMESPACE=knative-eventing (created here,
// with empty config-logging, config-observability and config-features, so
// every feature flag has Knative's default) and listen on loopback only.
// It returns once both serve, which is after their informers synced.
//
// What the eventing controller would do is left to the caller: the ingress
// sends a Broker's events to the URL in the Broker's status annotation
// knative.dev/channelAddress, and the filter delivers to a Trigger's
// status.subscriberUri.
func (b *Bed) StartBrokerPlane(ctx context.Context) (*BrokerPlane, error) {
	b.brokerMu.Lock()
	defer b.brokerMu.Unlock()
	if b.broker != nil {
		return b.broker, nil
	}
	if err := b.knativeSystemNamespace(ctx); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	common := []string{
		"KUBECONFIG=" + b.kubeconfig,
		"SYSTEM_NAMESPACE=" + KnativeSystemNamespace,
		"NAMESPACE=" + KnativeSystemNamespace,
	}
	bp := &BrokerPlane{
		IngressURL: "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		FilterURL:  "http://127.0.0.1:" + strconv.Itoa(ports[1]),
	}
	bp.ingress, err = b.run("broker-ingress", b.bins.BrokerIngress, append(common,
		"POD_NAME=mt-broker-ingress-0", "CONTAINER_NAME=ingress", "INGRESS_PORT="+strconv.Itoa(ports[0])))
	if err != nil {
		return nil, err
	}
	bp.filter, err = b.run("broker-filter", b.bins.BrokerFilter, append(common,
		"POD_NAME=mt-broker-filter-0", "CONTAINER_NAME=filter", "FILTER_PORT="+strconv.Itoa(ports[1])))
	if err != nil {
		bp.ingress.stop(3 * time.Second)
		return nil, err
	}
	// Both serve only after their informers synced. The ingress answers
	// OPTIONS with 200 (a webhook handshake); the filter answers a GET
	// with 405.
	if err := b.waitStatus(ctx, bp.ingress, http.MethodOptions, bp.IngressURL+"/", http.StatusOK); err != nil {
		bp.Stop()
		return nil, err
	}
	if err := b.waitStatus(ctx, bp.filter, http.MethodGet, bp.FilterURL+"/", http.StatusMethodNotAllowed); err != nil {
		bp.Stop()
		return nil, err
	}
	b.broker = bp
	return bp, nil
}

// Stop ends both processes; the bed's Stop also does.
func (p *BrokerPlane) Stop() {
	p.ingress.stop(3 * time.Second)
	p.filter.stop(3 * time.Second)
}

// LogPaths are the files holding the ingress's and the filter's output.
func (p *BrokerPlane) LogPaths() (ingress, filter string) {
	return p.ingress.logPath, p.filter.logPath
}

func (b *Bed) knativeSystemNamespace(ctx context.Context) error {
	_, err := b.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: KnativeSystemNamespace},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("testbed: namespace %s: %w", KnativeSystemNamespace, err)
	}
	// Without config-features the ConfigMap watcher does not start; without
	// the other two the processes refuse to start.
	for _, name := range []string{"config-logging", "config-observability", "config-features"} {
		_, err := b.client.CoreV1().ConfigMaps(KnativeSystemNamespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("testbed: ConfigMap %s/%s: %w", KnativeSystemNamespace, name, err)
		}
	}
	return nil
}

// waitStatus polls url with method until it answers want.
func (b *Bed) waitStatus(ctx context.Context, p *process, method, url string, want int) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	return b.waitFor(ctx, p, "answer "+method+" "+url, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil //nolint:nilerr // not up yet: poll again
		}
		_ = resp.Body.Close()
		return resp.StatusCode == want, nil
	})
}
