package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/test/broker"
	"github.com/keptn-sandbox/job-executor-knative/test/distributor"
)

// Keptn is down: the function answers 503, the Broker backs off as the
// shipped Trigger says (exponential from 1 s) and redelivers, and the task
// ends with exactly one .started and one .finished.
func TestBrokerKeptnDownRedelivers(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	rt := routeOf(t, fn.url)
	e.setConfig(testConfig("alpine:3.20", ""))
	ce := newTriggered("test", scope, "")

	e.keptn.SetDown(true)
	done := make(chan publication, 1)
	go func() { done <- rt.publish(t, ce) }()
	// Keptn comes back as soon as the function turned the first attempt
	// away, well before the Broker's first retry is due.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, rt.Channel.Wait(ctx, func(all []broker.Receipt) bool {
		for _, d := range all {
			for _, a := range d.Attempts(rt.Subscription) {
				if d.EventID == ce.ID() && a.Status == http.StatusServiceUnavailable {
					return true
				}
			}
		}
		return false
	}), "the function never answered 503")
	e.keptn.SetDown(false)
	p := <-done

	require.NoError(t, p.sent.Err, "the Broker took the event within the distributor's 5 s")
	assert.Equal(t, 1, p.sent.Attempts, "the distributor did not need to retry")
	attempts := p.attempts()
	require.GreaterOrEqual(t, len(attempts), 2, "redelivered: %v", attempts)
	assert.Equal(t, http.StatusServiceUnavailable, attempts[0])
	assert.Equal(t, http.StatusAccepted, p.status())
	var at []time.Time
	for _, d := range p.receipts {
		for _, a := range d.Attempts(p.subscription) {
			at = append(at, a.At)
		}
	}
	assert.GreaterOrEqual(t, at[1].Sub(at[0]), 900*time.Millisecond, "the first retry waits the Trigger's backoffDelay (PT1S)")
	assert.Empty(t, e.deadLetterSink().Events(), "nothing dead-lettered")

	created := e.jobsOf(ce.ID())
	require.Len(t, created, 1)
	waitJobCondition(t, context.Background(), e.kube, e.ns, created[0].Name, "Complete")
	require.Equal(t, http.StatusAccepted, ping(t, fn.url))
	e.waitFinished(ce.ID(), "test", reportWithin)
	require.Equal(t, http.StatusAccepted, ping(t, fn.url))
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.started"), 1)
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
	assert.Len(t, e.jobsOf(ce.ID()), 1)
}

// A permanent 400 is not retried: the Broker sends the event to the
// dead-letter sink with Knative's error extensions naming the function, its
// status and its answer.
func TestBrokerPermanent400GoesToDeadLetterSink(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	ce := newTriggered("deployment", map[string]any{"project": "p"}, "") // no stage, no service

	p := routeOf(t, fn.url).publish(t, ce)
	assert.Equal(t, []int{http.StatusBadRequest}, p.attempts(), "one attempt, no retry")
	assert.Equal(t, http.StatusBadRequest, p.status())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dead, err := e.deadLetterSink().WaitFor(ctx, func(ev event.Event) bool { return ev.ID() == ce.ID() })
	require.NoError(t, err, "the event reached the dead-letter sink")
	ext := dead.Extensions()
	assert.Equal(t, fn.url, ext["knativeerrordest"], "knativeerrordest is the subscriber, not the broker filter")
	assert.EqualValues(t, "400", toString(ext["knativeerrorcode"]))
	data, err := base64.StdEncoding.DecodeString(toString(ext["knativeerrordata"]))
	require.NoError(t, err)
	assert.NotEmpty(t, data, "knativeerrordata carries the function's answer")
	t.Logf("knativeerrordata: %s", data)
	assert.Equal(t, ce.Type(), dead.Type())
	assert.JSONEq(t, string(ce.Data()), string(dead.Data()))
	assert.Empty(t, e.jobsOf(ce.ID()))
	assert.Empty(t, e.eventsFor(ce.ID(), "sh.keptn.event.deployment.started"))
}

// Events the shipped Trigger must not deliver never reach the function;
// sequence-level events pass the Trigger (its prefix and suffix match them),
// the function takes them without a Job, and the distributor's documented
// topic keeps them out in the first place.
func TestBrokerDoesNotDeliverOutsideTheFilter(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	rt := routeOf(t, fn.url)
	e.setConfig(testConfig("alpine:3.20", ""))

	other := func(source, typ string) event.Event {
		ce := newTriggered("test", scope, "")
		ce.SetSource(source)
		ce.SetType(typ)
		return ce
	}
	for name, ce := range map[string]event.Event{
		".started":                  other("shipyard-controller", "sh.keptn.event.test.started"),
		".finished":                 other("shipyard-controller", "sh.keptn.event.test.finished"),
		"a log event":               other("job-executor", "sh.keptn.log.error"),
		"another source, own type":  other("https://github.com/x/y", "com.github.push"),
		"a PingSource tick":         pingEvent(),
		"a type ending differently": other("shipyard-controller", "sh.keptn.event.test.triggered.v2"),
		"prefix not at the start":   other("shipyard-controller", "x.sh.keptn.event.test.triggered"),
	} {
		t.Run(name, func(t *testing.T) {
			p := rt.publish(t, ce)
			require.NoError(t, p.sent.Err, "the Broker takes it")
			assert.Equal(t, 0, p.calls, "the function never sees it")
			assert.Equal(t, 0, p.status())
			assert.Empty(t, e.jobsOf(ce.ID()))
		})
	}

	t.Run("sequence-level event", func(t *testing.T) {
		ce := newTriggered("test", scope, "")
		ce.SetType("sh.keptn.event.e2e.delivery.triggered")
		assert.False(t, distributor.Subscribed("sh.keptn.event.*.triggered", ce.Type()), "the documented PUBSUB_TOPIC does not forward it")
		p := rt.publish(t, ce)
		assert.Equal(t, 1, p.calls, "the Trigger's prefix and suffix match it")
		assert.Equal(t, http.StatusAccepted, p.status(), "taken without a Job")
		assert.Empty(t, e.jobsOf(ce.ID()))
		assert.Empty(t, e.keptn.EventsOfType("sh.keptn.event.e2e.delivery.started"))
	})
	assert.Empty(t, e.deadLetterSink().Events())
}

// The shipped Trigger delivers a task event once, and the function's 202 ends
// the delivery: the Broker's whole path, happy case.
func TestBrokerDeliversTaskEvent(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.setConfig(testConfig("alpine:3.20", ""))
	ce := newTriggered("test", scope, "")
	ce.SetID(uuid.NewString())
	p := routeOf(t, fn.url).publish(t, ce)
	require.NoError(t, p.sent.Err)
	assert.Equal(t, http.StatusAccepted, p.sent.Status, "the ingress's answer to the distributor")
	assert.Equal(t, []int{http.StatusAccepted}, p.attempts())
	assert.Equal(t, 1, p.calls)
	assert.Len(t, e.jobsOf(ce.ID()), 1)
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.started"), 1)
}

func toString(v any) string {
	s, err := types.ToString(v)
	if err != nil {
		return ""
	}
	return s
}
