package broker

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	"knative.dev/eventing/pkg/apis/eventing"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	messagingv1 "knative.dev/eventing/pkg/apis/messaging/v1"
	brokerres "knative.dev/eventing/pkg/reconciler/broker/resources"
	"knative.dev/eventing/pkg/reconciler/sugar/trigger/path"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"knative.dev/pkg/network"

	"github.com/keptn-sandbox/job-executor-knative/test/distributor"
	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

var (
	gvrBroker  = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "brokers"}
	gvrTrigger = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "triggers"}
)

// Cluster addresses of the broker's Services, as the reconcilers compute
// them (system namespace knative-eventing).
var (
	FilterHost  = network.GetServiceHostname("broker-filter", testbed.KnativeSystemNamespace)
	IngressHost = network.GetServiceHostname("broker-ingress", testbed.KnativeSystemNamespace)
)

// Plumbing is the bed-wide Broker data plane: Knative's ingress and filter
// processes, the in-process channel, and the Broker and Trigger of
// `kustomize build config/knative`.
type Plumbing struct {
	Plane   *testbed.BrokerPlane
	Channel *Channel
	Broker  *eventingv1.Broker
	Trigger *eventingv1.Trigger
}

// NewPlumbing starts (or finds) the bed's broker processes, starts a
// channel, and reads the shipped Broker and Trigger.
func NewPlumbing(ctx context.Context, bed *testbed.Bed) (*Plumbing, error) {
	// The in-process channel is a knative-eventing component: Knative's
	// dispatcher reads its namespace from here to recognise the broker
	// filter's answers. Set it even when it is set: knative.dev/pkg's
	// system/testing, linked into test binaries through Knative's packages,
	// sets it to knative-testing in its init.
	if err := os.Setenv("SYSTEM_NAMESPACE", testbed.KnativeSystemNamespace); err != nil {
		return nil, err
	}
	root, err := manifests.RepoRoot()
	if err != nil {
		return nil, err
	}
	objs, err := manifests.Build(filepath.Join(root, "config", "knative"))
	if err != nil {
		return nil, err
	}
	p := &Plumbing{}
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *eventingv1.Broker:
			p.Broker = v
		case *eventingv1.Trigger:
			p.Trigger = v
		}
	}
	if p.Broker == nil || p.Trigger == nil || p.Trigger.Spec.Broker != p.Broker.Name {
		return nil, fmt.Errorf("broker: config/knative must hold the Broker and a Trigger on it")
	}
	p.Plane, err = bed.StartBrokerPlane(ctx)
	if err != nil {
		return nil, err
	}
	for host, base := range map[string]string{FilterHost: p.Plane.FilterURL, IngressHost: p.Plane.IngressURL} {
		u, err := url.Parse(base)
		if err != nil {
			return nil, err
		}
		MapHost(host+":80", u.Host)
	}
	p.Channel = NewChannel()
	return p, nil
}

// Route is one installed copy of the shipped Broker and Trigger.
type Route struct {
	Namespace string
	Trigger   *eventingv1.Trigger
	// Subscription names the Trigger's Subscription in Receipt.Attempts.
	Subscription string
	// Ingress is the Broker's address on the bed (the distributor's
	// PUBSUB_RECIPIENT).
	Ingress     string
	Distributor *distributor.Distributor
	Channel     *Channel
}

// Install creates the shipped Broker and Trigger in namespace ns with
// subscriber as the Trigger's subscriber and deadLetter as the resolved
// dead-letter sink, does what Knative's controllers would (the Broker's and
// the Trigger's status, the channel's Subscription from Knative's
// resources.NewSubscription, resolved to URIs), and returns once the ingress
// and the filter know both.
func (p *Plumbing) Install(ctx context.Context, bed *testbed.Bed, ns, subscriber, deadLetter string) (*Route, error) {
	b := p.Broker.DeepCopy()
	b.Namespace = ns
	tr := p.Trigger.DeepCopy()
	tr.Namespace = ns
	if err := applyTyped(ctx, bed, b); err != nil {
		return nil, err
	}
	if err := applyTyped(ctx, bed, tr); err != nil {
		return nil, err
	}
	dlsURL, err := apis.ParseURL(deadLetter)
	if err != nil {
		return nil, err
	}
	subURL, err := apis.ParseURL(subscriber)
	if err != nil {
		return nil, err
	}

	// The broker reconciler: the channel's address in a status annotation
	// (all the ingress reads), the Broker's own address and dead letter.
	channelName := brokerres.BrokerChannelName(b.Name, "trigger")
	b.Status.Annotations = map[string]string{eventing.BrokerChannelAddressStatusAnnotationKey: p.Channel.URL(ns, channelName)}
	brokerAddr := &apis.URL{Scheme: "http", Host: IngressHost, Path: "/" + ns + "/" + b.Name}
	b.Status.Address = &duckv1.Addressable{URL: brokerAddr}
	b.Status.DeliveryStatus = eventingduckv1.DeliveryStatus{DeadLetterSinkURI: dlsURL}
	if err := updateStatus(ctx, bed, b, gvrBroker); err != nil {
		return nil, err
	}
	// The trigger reconciler: the subscriber's address and the dead letter
	// it resolved, all the filter reads.
	tr.Status.SubscriberURI = subURL
	tr.Status.DeliveryStatus = eventingduckv1.DeliveryStatus{DeadLetterSinkURI: dlsURL}
	if err := updateStatus(ctx, bed, tr, gvrTrigger); err != nil {
		return nil, err
	}
	// ... and the Subscription it makes: subscriber the filter's path for
	// this Trigger, reply the Broker, the Trigger's delivery or else the
	// Broker's; the Subscription reconciler resolves it into the channel's
	// spec.subscribers.
	dest := &duckv1.Destination{URI: &apis.URL{Scheme: "http", Host: FilterHost, Path: path.Generate(tr)}}
	reply := &duckv1.Destination{Ref: &duckv1.KReference{APIVersion: "eventing.knative.dev/v1", Kind: "Broker", Name: b.Name, Namespace: ns}}
	delivery := tr.Spec.Delivery
	if delivery == nil {
		delivery = b.Spec.Delivery
	}
	sub := brokerres.NewSubscription(ctx, tr, &corev1.ObjectReference{APIVersion: "messaging.knative.dev/v1", Kind: "InMemoryChannel", Name: channelName}, dest, reply, delivery.DeepCopy())
	resolved := sub.Spec.Delivery
	if resolved != nil && resolved.DeadLetterSink != nil {
		resolved.DeadLetterSink = &duckv1.Destination{URI: dlsURL}
	}
	name := sub.Name
	// The Broker reconciler copies the Broker's annotations to its channel;
	// the InMemoryChannel dispatcher reads async-handler from there.
	async, _ := strconv.ParseBool(b.Annotations[messagingv1.AsyncHandlerAnnotation])
	if err := p.Channel.Subscribe(ns, channelName, async, eventingduckv1.SubscriberSpec{
		Name:          &name,
		SubscriberURI: sub.Spec.Subscriber.URI,
		ReplyURI:      brokerAddr,
		Delivery:      resolved,
	}); err != nil {
		return nil, err
	}

	ingress := p.Plane.IngressURL + "/" + ns + "/" + b.Name
	dist, err := distributor.New(ingress)
	if err != nil {
		return nil, err
	}
	r := &Route{Namespace: ns, Trigger: tr, Subscription: name, Ingress: ingress, Distributor: dist, Channel: p.Channel}
	if err := waitReady(ctx, p.Plane.FilterURL+path.Generate(tr), ingress); err != nil {
		return nil, err
	}
	return r, nil
}

// waitReady polls until the filter knows the Trigger and its subscriber (it
// answers a non-matching event 200 instead of 404) and the ingress knows the
// Broker and its channel (202 instead of 404 or 500). The probe's type
// matches no Trigger, so it reaches no subscriber.
func waitReady(ctx context.Context, filterURL, ingressURL string) error {
	probe := event.New()
	probe.SetID("probe-" + uuid.NewString())
	probe.SetSource("testbed")
	probe.SetType("testbed.probe")
	probe.SetExtension("knativebrokerttl", "255")
	for _, target := range []struct {
		url  string
		want int
	}{{filterURL, http.StatusOK}, {ingressURL, http.StatusAccepted}} {
		for {
			status, err := postOnce(ctx, target.url, probe)
			if err == nil && status == target.want {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("broker: %s never answered %d (last %d, %v)", target.url, target.want, status, err) //nolint:errorlint // err may be nil: it is shown, not wrapped
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func postOnce(ctx context.Context, url string, ev event.Event) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(nil))
	if err != nil {
		return 0, err
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&ev), req); err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

type object interface {
	runtime.Object
	metav1.Object
}

// applyTyped creates obj on the bed and reads back what the API server
// stored (uid, resourceVersion).
func applyTyped(ctx context.Context, bed *testbed.Bed, obj object) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetResourceVersion("")
	delete(u.Object, "status")
	applied, err := bed.ApplyObjects(ctx, obj.GetNamespace(), u)
	if err != nil {
		return fmt.Errorf("broker: apply %s: %w", obj.GetName(), err)
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(applied[0].Object, obj)
}

func updateStatus(ctx context.Context, bed *testbed.Bed, obj object, gvr schema.GroupVersionResource) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	if _, err := bed.Dynamic().Resource(gvr).Namespace(obj.GetNamespace()).UpdateStatus(ctx, &unstructured.Unstructured{Object: m}, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("broker: status of %s %s: %w", gvr.Resource, obj.GetName(), err)
	}
	return nil
}
