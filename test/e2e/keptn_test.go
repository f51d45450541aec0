package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/policy/policytest"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// flakyRegistry is an OCI registry behind a switch: while down, every
// request is answered 503, as a registry in trouble does.
type flakyRegistry struct {
	*policytest.Registry
	host string
	down atomic.Bool
}

func newFlakyRegistry(t *testing.T, key *policytest.Key, repo string) *flakyRegistry {
	t.Helper()
	reg := policytest.NewRegistry(t)
	target, err := url.Parse("http://" + reg.Host())
	require.NoError(t, err)
	f := &flakyRegistry{Registry: reg}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "registry unavailable", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.host = strings.TrimPrefix(srv.URL, "http://")
	d := reg.Push(repo, "v1")
	reg.Sign(d, key, f.host+"/"+repo)
	return f
}

// countingPolicy refuses testbed.local/banned/** and checks signatures of
// the flaky registry's images, so that its being down makes an action wait.
func countingPolicy(reg *flakyRegistry, key *policytest.Key) string {
	return fmt.Sprintf("apiVersion: v1\nimages:\n  deny: [testbed.local/banned/**]\n  signatures:\n    - images: [%s/acme/**]\n      keys:\n        - |\n%s",
		reg.host, pemBlock(key, "          "))
}

func action(name, image string) string {
	return fmt.Sprintf("  - name: %s\n    events:\n      - name: sh.keptn.event.test.triggered\n    tasks:\n      - name: t\n        image: %s\n", name, image)
}

// Keptn's shipyard-controller closes a task once its .finished count equals
// its .started count (the stand-in models it and fails the test on any
// event for a closed task). With one action refused, one waiting for an
// unavailable registry (the Broker redelivers on 503) and, in the second
// case, one finishing fast, every action's .started goes out at once (the
// waiting one's from its placeholder), the counts never meet while an
// action waits, and in the end every action's result reaches Keptn.
func TestKeptnShipyardCounting(t *testing.T) {
	for name, tc := range map[string]struct{ actions []string }{
		"refused and waiting":       {[]string{"refused", "waits"}},
		"refused, waiting and fast": {[]string{"refused", "waits", "fast"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			key := policytest.NewKey(t)
			reg := newFlakyRegistry(t, key, "acme/tool")
			e.withPolicy(countingPolicy(reg, key))
			fn := e.startFunction("replica-0")
			e.startWatch(fn)
			images := map[string]string{
				"refused": "testbed.local/banned/tool:1",
				"waits":   reg.host + "/acme/tool:v1",
				"fast":    "alpine:3.20",
			}
			cfg := "apiVersion: v2\nactions:\n"
			for _, a := range tc.actions {
				cfg += action(a, images[a])
			}
			e.setConfig(cfg)
			reg.down.Store(true)

			ce := newTriggered("test", scope, "")
			id := ce.ID()
			delivered := make(chan int, 1)
			go func() { delivered <- deliver(t, fn.url, ce) }()

			// Every action has started, the waiting one too (from its
			// placeholder); the fast one has even ended.
			require.Eventually(t, func() bool {
				return len(e.eventsFor(id, "sh.keptn.event.test.started")) == len(tc.actions)
			}, reportWithin, 100*time.Millisecond, "every action sends .started at once, the waiting one included")
			if len(tc.actions) == 3 {
				require.Eventually(t, func() bool { return jobEnded(e, id, "fast") }, reportWithin, 200*time.Millisecond, "the fast action's Job ends")
				ping(t, fn.url) // the sweep may report what ended; the task stays open
			}
			time.Sleep(2 * time.Second) // a Broker retry or two meets the registry still down
			assert.Less(t, len(e.eventsFor(id, "sh.keptn.event.test.finished")), len(tc.actions), "the waiting action has no .finished yet")
			closed, _, _ := e.keptn.TaskClosed("test", id)
			require.False(t, closed, "Keptn's counts stay apart while an action waits")

			reg.down.Store(false)
			require.Equal(t, http.StatusAccepted, <-delivered, "a Broker retry gets the waiting action going")
			require.Eventually(t, func() bool {
				return len(e.eventsFor(id, "sh.keptn.event.test.finished")) == len(tc.actions)
			}, reportWithin, 200*time.Millisecond, "every action's .finished reaches Keptn")
			closed, started, finished := e.keptn.TaskClosed("test", id)
			assert.True(t, closed)
			assert.Equal(t, len(tc.actions), started)
			assert.Equal(t, len(tc.actions), finished)

			results := map[string]string{}
			for _, f := range e.eventsFor(id, "sh.keptn.event.test.finished") {
				msg, _ := f.Data["message"].(string)
				results[actionOfMessage(msg, tc.actions)] = f.Data["result"].(string)
			}
			assert.Equal(t, "fail", results["refused"], "the refusal is reported")
			assert.Equal(t, "pass", results["waits"])
			if len(tc.actions) == 3 {
				assert.Equal(t, "pass", results["fast"])
			}
			assert.Empty(t, e.keptn.ShipyardViolations())
		})
	}
}

// jobEnded reports whether the Job of action for event id has a terminal
// condition.
func jobEnded(e *env, id, action string) bool {
	for _, j := range e.jobsOf(id) {
		if !strings.Contains(j.Name, action) {
			continue
		}
		for _, c := range j.Status.Conditions {
			if (c.Type == "Complete" || c.Type == "Failed") && c.Status == "True" {
				return true
			}
		}
	}
	return false
}

// actionOfMessage finds which action a .finished message is about: a Job's
// report names the Job, whose name holds the action's; the refusal names
// the banned image.
func actionOfMessage(msg string, actions []string) string {
	if strings.Contains(msg, "testbed.local/banned/") {
		return "refused"
	}
	for _, a := range actions {
		if strings.Contains(msg, "keptn-"+a+"-") {
			return a
		}
	}
	return "?"
}

// Sequence-level .triggered events pass the Trigger's prefix and suffix
// filters. They are the shipyard-controller's own: the function answers 202
// and does nothing, even when an action's event name would match, and they
// never reach the dead letter.
func TestKeptnSequenceEvents(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.setConfig("apiVersion: v2\nactions:\n" + strings.Replace(action("any", "alpine:3.20"),
		"name: sh.keptn.event.test.triggered", `name: 'sh\.keptn\.event\..+\.triggered'`, 1))
	for _, typ := range []string{"e2e.delivery", "e2e.delivery-with-tests"} {
		ce := newTriggered(typ, scope, "")
		assert.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce), typ)
		assert.Empty(t, e.jobsOf(ce.ID()), "no Job for %s", ce.Type())
	}
	assert.Empty(t, e.keptn.Events(), "nothing is sent to Keptn")
	assert.Empty(t, e.deadLetterSink().Events(), "nothing is dead-lettered")

	// A task event on the same config still runs: the name does match.
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	assert.Len(t, e.jobsOf(ce.ID()), 1)
}

// An operator lowered the api-service's MAX_EVENT_SIZE_KB. The function's
// budget is a setting; when it disagrees, Keptn's 400 "request body too
// large" makes the function send the .finished again smaller: shorter log
// head and tail, then one line naming the result, the Job and the pod.
func TestKeptnSizeLimitLowered(t *testing.T) {
	for name, tc := range map[string]struct {
		keptnKB    int
		functionKB string
		want       []string
		tail       bool
	}{
		"setting matches Keptn":          {8, "8", []string{"bytes cut ...]"}, true},
		"setting too high: shorter logs": {12, "", []string{"bytes cut ...]"}, true},
		"setting too high: one line":     {2, "", []string{"fail (errored): ", "did not fit Keptn's event size limit", "see Job "}, false},
	} {
		t.Run(name, func(t *testing.T) {
			var opts []envOption
			opts = append(opts, withKeptn(keptnstandin.WithMaxEventSizeKB(tc.keptnKB)))
			if tc.functionKB != "" {
				opts = append(opts, withFunctionEnv("KEPTN_MAX_EVENT_SIZE_KB", tc.functionKB))
			}
			e := newEnv(t, opts...)
			fn := e.startFunction("replica-0")
			e.startWatch(fn)
			e.setConfig(testConfig(testbed.ImageExit(3), ""))
			testbed.SetLogs(t, e.ns, "task-1-run", strings.Repeat("GET /carts 200 12ms\n", 3000)+"FATAL: the real reason\n")

			ce := newTriggered("test", scope, "")
			require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
			fin := e.waitFinished(ce.ID(), "test", reportWithin)
			assert.LessOrEqual(t, len(fin.Body), tc.keptnKB<<10)
			assert.Equal(t, "fail", fin.Data["result"])
			msg, _ := fin.Data["message"].(string)
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			assert.Equal(t, tc.tail, strings.Contains(msg, "FATAL: the real reason"), "the log's tail: %q", msg)
			if !tc.tail {
				job := e.jobsOf(ce.ID())[0]
				assert.Contains(t, msg, e.ns+"/"+job.Name, "names the Job whose pod holds the logs")
				assert.Contains(t, msg, "pod "+job.Name+"-", "and the pod")
			}
			assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
		})
	}
}

// The window is short because a delivery that takes more than the
// distributor's 5 s is lost (point 9 of issue 13): the send's own wait must
// fit in it.
//
// Behind Keptn's api-gateway-nginx, two failed authentications from one
// client address get every request from it 429, valid ones included, until
// the client backs off. Everything here shares 127.0.0.1 with the function,
// as pods behind one node's SNAT do. A 429 on the config fetch makes the
// Broker redeliver; a 429 on a .started or .finished is waited out within the
// send (Retry-After, jittered backoff).
func TestKeptnGatewayRateLimit(t *testing.T) {
	e := newEnv(t, withKeptn(keptnstandin.WithGateway(true), keptnstandin.WithRateLimitWindow(1500*time.Millisecond)))
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(testConfig("alpine:3.20", ""))
	failTwice := func() {
		t.Helper()
		for range 2 {
			req, err := http.NewRequest(http.MethodGet, e.keptn.ResourceServiceURL()+"/v1/project/e2e-project/resource/x", nil)
			require.NoError(t, err)
			req.Header.Set("x-token", "a-wrong-token")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		}
	}

	// Limited before the delivery: the config fetch gets 429, the function
	// answers 503 and a Broker retry after the back-off gets through.
	failTwice()
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	limited := e.keptn.TooManyRequests()
	assert.Positive(t, limited, "the function met the rate limit")
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	assert.Equal(t, "pass", fin.Data["result"])

	// Limited while responses go out: the config is cached, so the first
	// request to meet the limit is the .started, which waits it out.
	failTwice()
	ce2 := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce2))
	assert.Greater(t, e.keptn.TooManyRequests(), limited, "the .started met the rate limit")
	assert.Len(t, e.eventsFor(ce2.ID(), "sh.keptn.event.test.started"), 1)
	e.waitFinished(ce2.ID(), "test", reportWithin)
}

// Keptn's api-service replaces the id and time of every event it receives
// and drops shkeptnspecversion and the trace context, as the stand-in does:
// the function's stable ids never reach a Keptn receiver, and its results
// must not depend on Keptn de-duplicating anything.
func TestKeptnIdsReplaced(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(testConfig("alpine:3.20", ""))
	ce := newTriggered("test", scope, "")
	ce.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	e.waitFinished(ce.ID(), "test", reportWithin)

	for _, typ := range []string{"sh.keptn.event.test.started", "sh.keptn.event.test.finished"} {
		got := e.eventsFor(ce.ID(), typ)
		require.Len(t, got, 1, typ)
		ev := got[0]
		assert.NotEmpty(t, ev.SentID)
		assert.NotEqual(t, ev.SentID, ev.ID, "Keptn gives %s an id of its own", typ)
		var sent, published map[string]any
		require.NoError(t, json.Unmarshal(ev.Body, &sent))
		require.NoError(t, json.Unmarshal(ev.Published, &published))
		assert.Equal(t, ev.ID, published["id"])
		assert.NotEqual(t, sent["time"], published["time"], "and its own time")
		assert.NotContains(t, published, "shkeptnspecversion")
		assert.NotContains(t, published, "traceparent")
		assert.Equal(t, ce.ID(), published["triggeredid"], "what shipyard counts by survives")
	}
	closed, started, finished := e.keptn.TaskClosed("test", ce.ID())
	assert.True(t, closed)
	assert.Equal(t, 1, started)
	assert.Equal(t, 1, finished)
}
