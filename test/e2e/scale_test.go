package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/keptn-sandbox/job-executor-knative/pkg/wake"
	"github.com/keptn-sandbox/job-executor-knative/test/manifests"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

const sweepName = "job-executor-sweep"

// installSweep creates the shipped PingSource (kustomize build
// config/knative) in the function namespace and points the function at
// it, as configmap.yaml does. Hold (CLAIM_TTL) is shortened so the test
// waits out seconds, not minutes.
func (e *env) installSweep(hold time.Duration) dynamic.ResourceInterface {
	e.t.Helper()
	e.functionKubeconfig()
	fnNS := e.fnNamespaces[e.ns]
	root, err := manifests.RepoRoot()
	require.NoError(e.t, err)
	objs, err := manifests.Build(filepath.Join(root, "config", "knative"))
	require.NoError(e.t, err)
	var ps *unstructured.Unstructured
	for _, o := range objs {
		if o.GVK.Kind == "PingSource" && o.Name() == manifests.FunctionNamespace+"/"+sweepName {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o.Typed)
			require.NoError(e.t, err)
			ps = &unstructured.Unstructured{Object: m}
		}
	}
	require.NotNil(e.t, ps, "no PingSource %s in config/knative", sweepName)
	ps.SetNamespace(fnNS)
	unstructured.RemoveNestedField(ps.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(ps.Object, "status")
	dyn, err := dynamic.NewForConfig(e.bed.RESTConfig())
	require.NoError(e.t, err)
	client := dyn.Resource(wake.PingSources).Namespace(fnNS)
	_, err = client.Create(context.Background(), ps, metav1.CreateOptions{})
	require.NoError(e.t, err)
	e.extraEnv["SWEEP_PINGSOURCE"] = fnNS + "/" + sweepName
	e.extraEnv["CLAIM_TTL"] = hold.String()
	return client
}

// cronTicker is testbed.CronTicker failing t, pinging the function as
// ping does.
type cronTicker struct {
	t *testing.T
	*testbed.CronTicker
}

func newCronTicker(t *testing.T, ps dynamic.ResourceInterface, sink string) *cronTicker {
	return &cronTicker{t: t, CronTicker: testbed.NewCronTicker(ps, sweepName, func() error {
		if status := ping(t, sink); status != http.StatusAccepted {
			return fmt.Errorf("ping answered %d", status)
		}
		return nil
	})}
}

func (c *cronTicker) schedule() string {
	c.t.Helper()
	s, err := c.Schedule(context.Background())
	require.NoError(c.t, err)
	return s
}

func (c *cronTicker) tick() bool {
	c.t.Helper()
	fired, err := c.Tick(context.Background())
	require.NoError(c.t, err)
	return fired
}

// autoscaler models the rule Knative's KPA applies to the last replica: it
// may go once no request reached it for the stable window (60 s by
// default; here a few ticks of the compressed clock).
type autoscaler struct {
	window, quiet int
	last          int64
	fn            *replica
}

func (a *autoscaler) observe() {
	if n := a.fn.total.Load(); n != a.last {
		a.last, a.quiet = n, 0
		return
	}
	a.quiet++
}

func (a *autoscaler) atZero() bool { return a.quiet >= a.window }

// TestScaleToZero: ping-only (no ApiServerSource). Idle, nothing wakes the
// function; a burst of Jobs arms the sweep, every Job is reported within
// one ping period of its end; then the sweep disarms itself and nothing
// wakes the function again.
func TestScaleToZero(t *testing.T) {
	const hold = 3 * time.Second
	e := newEnv(t)
	ps := e.installSweep(hold)
	fn := e.startFunction("replica-0")
	e.setConfig(testConfig("alpine:3.20", ""))
	ticker := newCronTicker(t, ps, fn.url)
	kpa := &autoscaler{window: 3, fn: fn}
	idle := func(phase string) {
		t.Helper()
		before := fn.total.Load()
		for range 10 {
			assert.False(t, ticker.tick(), "%s: the sweep pinged at %s (schedule %q)", phase, ticker.Minute.Format("15:04"), ticker.schedule())
			kpa.observe()
		}
		assert.Equal(t, before, fn.total.Load(), "%s: requests reached the function", phase)
		assert.True(t, kpa.atZero(), "%s: a request within the stable window keeps a replica up", phase)
	}

	idle("idle before any Job")

	var ids []string
	for i := range 5 {
		ce := newTriggered("test", scope, "")
		require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
		ids = append(ids, ce.ID())
		if i == 0 {
			// Armed before the first Job was created.
			require.Equal(t, "* * * * *", ticker.schedule())
		}
	}
	for _, id := range ids {
		waitJobCondition(t, context.Background(), e.kube, e.ns, e.jobsOf(id)[0].Name, "Complete")
	}
	require.True(t, ticker.tick(), "armed: the next minute pings")
	tickedBy := time.Now()
	for _, id := range ids {
		assert.Len(t, e.eventsFor(id, "sh.keptn.event.test.finished"), 1, "within one ping period of the Job's end: %s", id)
	}
	lastReport := ticker.Minute

	// The last arming holds a disarm off for CLAIM_TTL. A tick within the
	// hold leaves the sweep armed: wait the hold out (a bound, not a
	// synchronisation), then one tick disarms. On a loaded machine the
	// Jobs may take longer than the hold to end, and that first tick
	// disarms at once.
	obj, err := ps.Get(context.Background(), sweepName, metav1.GetOptions{})
	require.NoError(t, err)
	armedAt, err := time.Parse(time.RFC3339Nano, obj.GetAnnotations()[wake.AnnotationArmedAt])
	require.NoError(t, err)
	if tickedBy.Before(armedAt.Add(hold)) {
		require.Equal(t, "* * * * *", ticker.schedule(), "a tick within CLAIM_TTL of the last arming does not disarm")
		time.Sleep(time.Until(armedAt.Add(hold + 100*time.Millisecond)))
		require.True(t, ticker.tick())
	}
	require.Equal(t, "0 * * * *", ticker.schedule(), "disarmed once every Job is reported")
	t.Logf("last Job reported at tick %s, last wake-up at %s (%s of schedule); %d pings in all",
		lastReport.Format("15:04"), ticker.Minute.Format("15:04"), ticker.Minute.Sub(lastReport), ticker.Fired)

	idle("idle after the burst")
	for _, id := range ids {
		assert.Len(t, e.eventsFor(id, "sh.keptn.event.test.finished"), 1, id)
	}
}

// TestScaleToZeroSafetySweep: the sweep is set idle while a Job runs (the
// operator re-applied sources.yaml); the Job ends while nothing ticks. The
// hourly safety sweep reports it, and nothing else woke the function.
func TestScaleToZeroSafetySweep(t *testing.T) {
	e := newEnv(t)
	ps := e.installSweep(time.Second)
	fn := e.startFunction("replica-0")
	// The task runs until its deadline, so the Job ends after the delivery
	// has been answered: the launcher's settle step cannot report it.
	e.setConfig(oneTask("", "        image: "+testbed.ImageSleep+"\n        maxPollDuration: 2\n"))
	ticker := newCronTicker(t, ps, fn.url)

	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	require.Equal(t, "* * * * *", ticker.schedule())
	obj, err := ps.Get(context.Background(), sweepName, metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(obj.Object, "0 * * * *", "spec", "schedule"))
	_, err = ps.Update(context.Background(), obj, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitJobCondition(t, context.Background(), e.kube, e.ns, e.jobsOf(ce.ID())[0].Name, "Failed")

	before := fn.total.Load()
	for ticker.Minute.Minute() != 59 {
		require.False(t, ticker.tick(), "pinged at %s", ticker.Minute.Format("15:04"))
	}
	require.Equal(t, before, fn.total.Load())
	assert.Empty(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"))
	require.True(t, ticker.tick(), "the safety sweep at %s", ticker.Minute.Format("15:04"))
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
}

// TestScaleToZeroRedelivery: a second delivery of the same event arms again
// and creates nothing; the sweep still disarms once the Job is reported.
func TestScaleToZeroRedelivery(t *testing.T) {
	const hold = time.Second
	e := newEnv(t)
	ps := e.installSweep(hold)
	fn := e.startFunction("replica-0")
	e.setConfig(testConfig("alpine:3.20", ""))
	ticker := newCronTicker(t, ps, fn.url)

	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	waitJobCondition(t, context.Background(), e.kube, e.ns, e.jobsOf(ce.ID())[0].Name, "Complete")
	require.True(t, ticker.tick())
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	assert.Len(t, e.jobsOf(ce.ID()), 1)
	obj, err := ps.Get(context.Background(), sweepName, metav1.GetOptions{})
	require.NoError(t, err)
	armedAt, err := time.Parse(time.RFC3339Nano, obj.GetAnnotations()[wake.AnnotationArmedAt])
	require.NoError(t, err)
	time.Sleep(time.Until(armedAt.Add(hold + 100*time.Millisecond)))
	require.True(t, ticker.tick())
	require.Equal(t, "0 * * * *", ticker.schedule())
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
}

// TestScaleToZeroNoArmingNoJob: when the PingSource cannot be armed (here
// it is gone), no Job is created and the delivery is answered 503, so the
// Broker retries; once it can be armed again, the retry creates the Job.
func TestScaleToZeroNoArmingNoJob(t *testing.T) {
	e := newEnv(t)
	ps := e.installSweep(time.Second)
	fn := e.startFunction("replica-0")
	e.setConfig(testConfig("alpine:3.20", ""))
	saved, err := ps.Get(context.Background(), sweepName, metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, ps.Delete(context.Background(), sweepName, metav1.DeleteOptions{}))

	ce := newTriggered("test", scope, "")
	assert.Equal(t, http.StatusServiceUnavailable, deliverDirect(t, fn.url, ce))
	assert.Empty(t, e.jobsOf(ce.ID()), "a Job was created without the sweep armed")
	assert.Empty(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.started"))

	saved.SetResourceVersion("")
	saved.SetUID("")
	_, err = ps.Create(context.Background(), saved, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, deliverDirect(t, fn.url, ce))
	require.Len(t, e.jobsOf(ce.ID()), 1)
	ticker := newCronTicker(t, ps, fn.url)
	require.Equal(t, "* * * * *", ticker.schedule())
	waitJobCondition(t, context.Background(), e.kube, e.ns, e.jobsOf(ce.ID())[0].Name, "Complete")
	require.True(t, ticker.tick())
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
}
