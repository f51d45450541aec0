package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	"knative.dev/eventing/pkg/apis/eventing"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	brokerres "knative.dev/eventing/pkg/reconciler/broker/resources"
	"knative.dev/eventing/pkg/reconciler/sugar/trigger/path"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"knative.dev/pkg/network"

	"github.com/keptn-sandbox/job-executor-knative/test/broker"
	"github.com/keptn-sandbox/job-executor-knative/test/distributor"
	"github.com/keptn-sandbox/job-executor-knative/test/eventsink"
	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// The Broker path every delivery in these tests takes, as docs/deploy.md
// draws it:
//
//	distributor ──structured POST──▶ broker ingress ──▶ channel ──▶ broker filter ──Trigger──▶ function
//	 (ours, as Keptn's)              (Knative's binary) (Knative's   (Knative's binary)
//	                                                     fanout, in-process)
//
// The Broker, the Trigger and their delivery specs are the ones
// `kustomize build config/knative` gives. Each function replica gets its own
// copy of them in a namespace of its own, with the replica as the Trigger's
// subscriber: `deliver(t, replica.url, ce)` is "Keptn publishes ce and the
// Service routes it to this replica".

var (
	gvrBroker  = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "brokers"}
	gvrTrigger = schema.GroupVersionResource{Group: "eventing.knative.dev", Version: "v1", Resource: "triggers"}
)

// brokerPlumbing is the bed-wide part: Knative's ingress and filter
// processes, the in-process channel, and the shipped Broker and Trigger.
type brokerPlumbing struct {
	plane   *testbed.BrokerPlane
	channel *broker.Channel
	broker  *eventingv1.Broker
	trigger *eventingv1.Trigger
}

var plumbing struct {
	once sync.Once
	p    *brokerPlumbing
	err  error
}

// Cluster addresses of the broker's Services, as the reconcilers compute
// them (system namespace knative-eventing).
var (
	filterHost  = network.GetServiceHostname("broker-filter", testbed.KnativeSystemNamespace)
	ingressHost = network.GetServiceHostname("broker-ingress", testbed.KnativeSystemNamespace)
)

func brokerPlumbingFor(t *testing.T) *brokerPlumbing {
	t.Helper()
	plumbing.once.Do(func() {
		plumbing.p, plumbing.err = newBrokerPlumbing(testbed.Get(t))
	})
	require.NoError(t, plumbing.err, "broker plumbing")
	return plumbing.p
}

func newBrokerPlumbing(bed *testbed.Bed) (*brokerPlumbing, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The in-process channel is a knative-eventing component: Knative's
	// dispatcher reads its namespace from here.
	if os.Getenv("SYSTEM_NAMESPACE") == "" {
		if err := os.Setenv("SYSTEM_NAMESPACE", testbed.KnativeSystemNamespace); err != nil {
			return nil, err
		}
	}
	root, err := manifests.RepoRoot()
	if err != nil {
		return nil, err
	}
	objs, err := manifests.Build(filepath.Join(root, "config", "knative"))
	if err != nil {
		return nil, err
	}
	p := &brokerPlumbing{}
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *eventingv1.Broker:
			p.broker = v
		case *eventingv1.Trigger:
			p.trigger = v
		}
	}
	if p.broker == nil || p.trigger == nil || p.trigger.Spec.Broker != p.broker.Name {
		return nil, fmt.Errorf("config/knative must hold the Broker and a Trigger on it")
	}
	p.plane, err = bed.StartBrokerPlane(ctx)
	if err != nil {
		return nil, err
	}
	for host, base := range map[string]string{filterHost: p.plane.FilterURL, ingressHost: p.plane.IngressURL} {
		u, err := url.Parse(base)
		if err != nil {
			return nil, err
		}
		broker.MapHost(host+":80", u.Host)
	}
	p.channel = broker.NewChannel()
	return p, nil
}

// route is one replica's Broker and Trigger.
type route struct {
	ns          string
	trigger     *eventingv1.Trigger
	channelPath string
	ingress     string // where the distributor posts
	dist        *distributor.Distributor
	channel     *broker.Channel
	replica     *replica
}

// routes maps a replica's URL to its route.
var routes sync.Map

func routeOf(t *testing.T, url string) *route {
	t.Helper()
	r, ok := routes.Load(url)
	if !ok {
		t.Fatalf("no Broker delivers to %s: start it with env.startFunction", url)
	}
	return r.(*route)
}

// wireBroker installs the shipped Broker and Trigger for r in a namespace
// of their own, does what Knative's controllers would (statuses, the
// channel's Subscription), and waits until the ingress and the filter know
// both.
func (e *env) wireBroker(r *replica) {
	e.t.Helper()
	p := brokerPlumbingFor(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := testbed.Namespace(e.t)
	dls := e.deadLetterSink().URL()

	b := p.broker.DeepCopy()
	b.Namespace = ns
	tr := p.trigger.DeepCopy()
	tr.Namespace = ns
	b = applyTyped(e.t, ctx, e.bed, b, gvrBroker)
	tr = applyTyped(e.t, ctx, e.bed, tr, gvrTrigger)

	// The broker reconciler: the channel's address in a status annotation
	// (all the ingress reads), the Broker's own address and dead letter.
	channelName := brokerres.BrokerChannelName(b.Name, "trigger")
	b.Status.Annotations = map[string]string{eventing.BrokerChannelAddressStatusAnnotationKey: p.channel.URL(ns, channelName)}
	brokerAddr := &apis.URL{Scheme: "http", Host: ingressHost, Path: "/" + ns + "/" + b.Name}
	b.Status.Address = &duckv1.Addressable{URL: brokerAddr}
	dlsURL, err := apis.ParseURL(dls)
	require.NoError(e.t, err)
	b.Status.DeliveryStatus = eventingduckv1.DeliveryStatus{DeadLetterSinkURI: dlsURL}
	updateStatus(e.t, ctx, e.bed, b, gvrBroker)

	// The trigger reconciler: the subscriber's address (the Knative Service,
	// here this replica) and the dead letter it resolved, all the filter
	// reads.
	subscriber, err := apis.ParseURL(r.url)
	require.NoError(e.t, err)
	tr.Status.SubscriberURI = subscriber
	tr.Status.DeliveryStatus = eventingduckv1.DeliveryStatus{DeadLetterSinkURI: dlsURL}
	updateStatus(e.t, ctx, e.bed, tr, gvrTrigger)

	// ... and the Subscription it makes (Knative's resources.NewSubscription:
	// subscriber the filter's path for this Trigger, reply the Broker, the
	// Trigger's delivery or else the Broker's), resolved to URIs as the
	// Subscription reconciler writes them into the channel's spec.
	dest := &duckv1.Destination{URI: &apis.URL{Scheme: "http", Host: filterHost, Path: path.Generate(tr)}}
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
	require.NoError(e.t, p.channel.Subscribe(ns, channelName, eventingduckv1.SubscriberSpec{
		Name:          &name,
		SubscriberURI: sub.Spec.Subscriber.URI,
		ReplyURI:      brokerAddr,
		Delivery:      resolved,
	}))

	dist, err := distributor.New(p.plane.IngressURL + "/" + ns + "/" + b.Name)
	require.NoError(e.t, err)
	rt := &route{ns: ns, trigger: tr, channelPath: ns + "/" + channelName, ingress: p.plane.IngressURL + "/" + ns + "/" + b.Name, dist: dist, channel: p.channel, replica: r}
	rt.waitReady(e.t, ctx, p.plane.FilterURL+path.Generate(tr))
	routes.Store(r.url, rt)
	e.t.Cleanup(func() { routes.Delete(r.url) })
}

// waitReady polls until the filter knows the Trigger and its subscriber
// (it answers a non-matching event 200 instead of 404) and the ingress
// knows the Broker and its channel (202 instead of 404/500). The probe's
// type matches no Trigger, so it reaches no function.
func (rt *route) waitReady(t *testing.T, ctx context.Context, filterURL string) {
	t.Helper()
	probe := event.New()
	probe.SetID("probe-" + uuid.NewString())
	probe.SetSource("testbed")
	probe.SetType("testbed.probe")
	probe.SetExtension("knativebrokerttl", "255")
	for _, target := range []struct {
		url  string
		want int
	}{{filterURL, http.StatusOK}, {rt.ingress, http.StatusAccepted}} {
		for {
			status, _, err := post(target.url, probe)
			if err == nil && status == target.want {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s never answered %d (last %d, %v)", target.url, target.want, status, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// publication is one event the distributor sent into a replica's Broker.
type publication struct {
	id, requestID string
	sent          distributor.Result
	receipts      []broker.Receipt
	subscription  string
	calls         int // requests the replica got for it
}

// publish sends ce through the distributor into r's Broker and returns once
// the Broker is done with it: the ingress answered (after the channel's
// deliveries, retries and dead letter) or the distributor gave up.
func (rt *route) publish(t *testing.T, ce event.Event) publication {
	t.Helper()
	rid := uuid.NewString()
	res := rt.dist.Send(context.Background(), ce, http.Header{broker.RequestIDHeader: {rid}})
	mine := func(d broker.Receipt) bool { return d.RequestID == rid }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := rt.channel.Wait(ctx, func(all []broker.Receipt) bool {
		for _, d := range all {
			if mine(d) && !d.Done() {
				return false
			}
		}
		return true
	})
	require.NoError(t, err, "the channel never finished %s", ce.ID())
	return publication{
		id: ce.ID(), requestID: rid, sent: res,
		receipts:     rt.channel.Receipts(mine),
		subscription: brokerSubscription(rt),
		calls:        rt.replica.calls(rid),
	}
}

// attempts are the statuses the Trigger's subscriber answered, in order, over
// every publication's channel request.
func (p publication) attempts() []int {
	var out []int
	for _, d := range p.receipts {
		for _, a := range d.Attempts(p.subscription) {
			out = append(out, a.Status)
		}
	}
	return out
}

// status is what the function answered the Broker last for this
// publication; 0 if the Trigger did not deliver it.
func (p publication) status() int {
	if p.calls == 0 {
		return 0
	}
	a := p.attempts()
	if len(a) == 0 {
		return p.sent.Status
	}
	return a[len(a)-1]
}

// deadLetterSink is the env's dead-letter Service (platform/dead-letter.yaml):
// every replica's Broker and Trigger resolve their deadLetterSink to it.
func (e *env) deadLetterSink() *eventsink.Sink {
	if e.deadLetters == nil {
		e.deadLetters = eventsink.New(e.t)
	}
	return e.deadLetters
}

func applyTyped[T interface {
	runtime.Object
	metav1.Object
}](t *testing.T, ctx context.Context, bed *testbed.Bed, obj T, gvr schema.GroupVersionResource) T {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	require.NoError(t, err)
	u := &unstructured.Unstructured{Object: m}
	u.SetResourceVersion("")
	delete(u.Object, "status")
	applied, err := bed.ApplyObjects(ctx, obj.GetNamespace(), u)
	require.NoError(t, err, "apply %s", gvr.Resource)
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(applied[0].Object, obj))
	return obj
}

func updateStatus[T interface {
	runtime.Object
	metav1.Object
}](t *testing.T, ctx context.Context, bed *testbed.Bed, obj T, gvr schema.GroupVersionResource) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	require.NoError(t, err)
	_, err = bed.Dynamic().Resource(gvr).Namespace(obj.GetNamespace()).UpdateStatus(ctx, &unstructured.Unstructured{Object: m}, metav1.UpdateOptions{})
	require.NoError(t, err, "status of %s %s", gvr.Resource, obj.GetName())
}

// countingHandler counts the requests a replica gets, by request id.
type countingHandler struct {
	next http.Handler
	mu   sync.Mutex
	seen map[string]int
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rid := r.Header.Get(broker.RequestIDHeader); rid != "" {
		h.mu.Lock()
		h.seen[rid]++
		h.mu.Unlock()
	}
	h.next.ServeHTTP(w, r)
}

func (h *countingHandler) calls(rid string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[rid]
}
