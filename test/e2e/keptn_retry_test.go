package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy/policytest"
)

// Keptn's resource-service answers 500 {"code":500,"message":"Internal
// server error"} for a gitcommitid it does not know (history rewritten, a
// commit of another stage), on every retry. The Broker retries; once the
// event is RETRY_WINDOW old (counted from its time), the function gives up:
// Keptn gets one .started and one errored .finished naming the cause, the
// task closes, and nothing reaches the dead letter.
func TestKeptnUnknownCommit(t *testing.T) {
	e := newEnv(t, withFunctionEnv("RETRY_WINDOW", "2s"))
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(testConfig("alpine:3.20", ""))

	ce := newTriggered("test", scope, strings.Repeat("0badc0de", 5))
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce), "the retry past the window gives up and is answered 202")
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	assert.Equal(t, "fail", fin.Data["result"])
	assert.Equal(t, "errored", fin.Data["status"])
	msg, _ := fin.Data["message"].(string)
	assert.Contains(t, msg, "HTTP 500")
	assert.Contains(t, msg, "Internal server error")
	assert.Contains(t, msg, "RETRY_WINDOW")

	closed, started, finished := e.keptn.TaskClosed("test", ce.ID())
	assert.True(t, closed)
	assert.Equal(t, 1, started)
	assert.Equal(t, 1, finished)
	assert.Empty(t, e.deadLetterSink().Events())
	assert.Empty(t, e.keptn.ShipyardViolations())

	// A redelivery (the Broker's, or a duplicate) adds nothing to the
	// closed task.
	require.Equal(t, http.StatusAccepted, deliverDirect(t, fn.url, ce))
	ping(t, fn.url)
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.started"), 1)
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
}

// Keptn's distributor gives up after about 5 s and the shipyard-controller
// times a task out when no .started came within TASK_STARTED_WAIT_DURATION.
// An action that waits for its image's registry gets Keptn's .started from
// the first delivery (a placeholder Job under its name holds it); then the
// Broker's retries run it once the registry answers, inheriting that
// .started, or give it up with an errored .finished once the event is
// RETRY_WINDOW old. Either way Keptn counts one .started and one .finished.
func TestKeptnStartedPromptly(t *testing.T) {
	for name, tc := range map[string]struct {
		window     string
		comesBack  bool
		wantResult string
	}{
		"the registry comes back": {"45s", true, "pass"},
		"the registry stays down": {"3s", false, "fail"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, withFunctionEnv("RETRY_WINDOW", tc.window))
			key := policytest.NewKey(t)
			reg := newFlakyRegistry(t, key, "acme/tool")
			e.withPolicy(countingPolicy(reg, key))
			fn := e.startFunction("replica-0")
			e.startWatch(fn)
			e.setConfig("apiVersion: v2\nactions:\n" + action("waits", reg.host+"/acme/tool:v1"))
			reg.down.Store(true)

			ce := newTriggered("test", scope, "")
			id := ce.ID()
			delivered := make(chan int, 1)
			go func() { delivered <- deliver(t, fn.url, ce) }()

			require.Eventually(t, func() bool {
				return len(e.eventsFor(id, "sh.keptn.event.test.started")) == 1
			}, reportWithin, 100*time.Millisecond, "the waiting action's .started goes out on the first delivery")
			placeholders := 0
			for _, j := range e.jobsOf(id) {
				if j.Annotations[jobs.AnnotationWaiting] != "" {
					placeholders++
					assert.Contains(t, j.Annotations[jobs.AnnotationWaiting], "503", "the placeholder names the cause")
				}
			}
			assert.Equal(t, 1, placeholders)

			if tc.comesBack {
				reg.down.Store(false)
			}
			require.Equal(t, http.StatusAccepted, <-delivered)
			fin := e.waitFinished(id, "test", reportWithin)
			assert.Equal(t, tc.wantResult, fin.Data["result"])
			if !tc.comesBack {
				msg, _ := fin.Data["message"].(string)
				assert.Contains(t, msg, "RETRY_WINDOW")
				assert.Contains(t, msg, "503", "names the registry's answer")
			}
			ping(t, fn.url) // a sweep adds nothing
			closed, started, finished := e.keptn.TaskClosed("test", id)
			assert.True(t, closed)
			assert.Equal(t, 1, started)
			assert.Equal(t, 1, finished)
			assert.Empty(t, e.keptn.ShipyardViolations())
		})
	}
}
