package broker

import (
	"context"
	"sync"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/zap"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/attributes"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
)

// Trigger subscribes Subscriber to the broker's events that pass its
// filters, chosen as Knative's broker filter chooses them: Filters (a
// Trigger's spec.filters, the CloudEvents Subscriptions API dialects exact,
// prefix, suffix, all, any, not) when set, otherwise Filter (the legacy
// spec.filter.attributes, exact matches), otherwise every event.
type Trigger struct {
	Name       string
	Filters    []eventingv1.SubscriptionsAPIFilter
	Filter     map[string]string
	Subscriber string
	// Delivery is the Trigger's spec.delivery; nil means DefaultDelivery.
	Delivery *eventingduckv1.DeliverySpec
}

// Record is one delivery the broker made.
type Record struct {
	Trigger string
	Event   event.Event
	Result  Result
}

// MaxHops bounds how often replies are published again, like the broker's
// TTL extension (Knative's default TTL is 255).
const MaxHops = 255

// Broker is an in-process stand-in for a Knative Broker: events published to
// it go to every matching Trigger, and the reply to a delivery is published
// to the broker again, as the broker filter sends replies to the broker's
// ingress.
type Broker struct {
	mu       sync.Mutex
	triggers []Trigger
	records  []Record
}

// New returns a broker with the given triggers.
func New(triggers ...Trigger) *Broker {
	return &Broker{triggers: append([]Trigger(nil), triggers...)}
}

// AddTrigger subscribes another trigger.
func (b *Broker) AddTrigger(t Trigger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.triggers = append(b.triggers, t)
}

// Publish delivers ev, then every reply it leads to, breadth first, and
// returns the deliveries made in order. Deliveries for one event run one
// trigger after the other, so ordering in tests is deterministic.
func (b *Broker) Publish(ctx context.Context, ev event.Event) []Record {
	var out []Record
	queue := []event.Event{ev}
	for hop := 0; len(queue) > 0 && hop <= MaxHops; hop++ {
		var next []event.Event
		for _, e := range queue {
			for _, t := range b.matching(ctx, e) {
				res := Deliver(ctx, e, t.Subscriber, t.Delivery)
				out = append(out, Record{Trigger: t.Name, Event: e, Result: res})
				if res.Reply != nil {
					next = append(next, *res.Reply)
				}
			}
		}
		queue = next
	}
	b.mu.Lock()
	b.records = append(b.records, out...)
	b.mu.Unlock()
	return out
}

// Records returns every delivery made so far.
func (b *Broker) Records() []Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Record(nil), b.records...)
}

func (b *Broker) matching(ctx context.Context, ev event.Event) []Trigger {
	b.mu.Lock()
	triggers := append([]Trigger(nil), b.triggers...)
	b.mu.Unlock()
	var out []Trigger
	for _, t := range triggers {
		if Matches(ctx, t.Filters, t.Filter, ev) {
			out = append(out, t)
		}
	}
	return out
}

// Matches applies a Trigger's filters to ev with Knative's own filter code,
// in the order the broker filter (pkg/broker/filter) applies them.
func Matches(ctx context.Context, filters []eventingv1.SubscriptionsAPIFilter, legacy map[string]string, ev event.Event) bool {
	var f eventfilter.Filter
	switch {
	case len(filters) > 0:
		f = subscriptionsapi.CreateSubscriptionsAPIFilters(zap.NewNop(), filters)
	case legacy != nil:
		f = attributes.NewAttributesFilter(legacy)
	default:
		return true
	}
	return f.Filter(ctx, ev) != eventfilter.FailFilter
}
