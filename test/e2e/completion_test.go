package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// Generous bounds: they only decide when a missing event fails the test;
// speed is measured in benchmarks, not here.
const reportWithin = 60 * time.Second

func TestCompletionSuccess(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(testConfig("alpine:3.20", ""))
	testbed.SetLogs(t, e.ns, "task-1-run", "all 12 tests passed")

	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	assert.Equal(t, "succeeded", fin.Data["status"])
	assert.Equal(t, "pass", fin.Data["result"])
	assert.Contains(t, fin.Data["message"], "all 12 tests passed")
	assert.Equal(t, ce.Extensions()["shkeptncontext"], fin.Shkeptncontext)
	started := e.eventsFor(ce.ID(), "sh.keptn.event.test.started")
	require.Len(t, started, 1)
	assert.Equal(t, started[0].Source, fin.Source, "same source as the .started")
	test, ok := fin.Data["test"].(map[string]any)
	require.True(t, ok, "test events carry data.test.start and end: %v", fin.Data)
	assert.NotEmpty(t, test["start"])
	assert.NotEmpty(t, test["end"])

	// The marker is written right after the send.
	assert.Eventually(t, func() bool {
		return e.jobsOf(ce.ID())[0].Annotations[jobs.AnnotationReported] != ""
	}, reportWithin, 100*time.Millisecond, "a reported Job carries a marker")
}

func TestCompletionFailureWithExitCodeAndLog(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(testConfig(testbed.ImageExit(3), ""))
	testbed.SetLogs(t, e.ns, "task-1-run", "AssertionError: expected 200, got 503")

	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	assert.Equal(t, "errored", fin.Data["status"])
	assert.Equal(t, "fail", fin.Data["result"])
	msg, _ := fin.Data["message"].(string)
	assert.Contains(t, msg, "run")
	assert.Contains(t, msg, "exit code 3")
	assert.Contains(t, msg, "AssertionError: expected 200, got 503")
}

func TestCompletionOnErrorWarn(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(testConfig(testbed.ImageExit(1), "        onError: warn\n"))
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	assert.Equal(t, "warning", fin.Data["result"])
}

func TestCompletionDeadlineExceeded(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(`apiVersion: v2
actions:
  - name: "Run tests"
    events:
      - name: "sh.keptn.event.test.triggered"
    tasks:
      - name: "run"
        image: "` + testbed.ImageSleep + `"
        maxPollDuration: 3
`)
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	assert.Equal(t, "fail", fin.Data["result"])
	assert.Contains(t, fin.Data["message"], "DeadlineExceeded")
}

func TestCompletionImagePullFailsFast(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	// A deadline of an hour: the report must not wait for it.
	e.setConfig(testConfig(testbed.ImagePullBackOff, "        maxPollDuration: 3600\n"))
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	assert.Equal(t, "fail", fin.Data["result"])
	assert.Contains(t, fin.Data["message"], "ImagePullBackOff")

	// The Job is stopped, so nothing keeps running after its report.
	require.Eventually(t, func() bool {
		pods, err := e.kube.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + e.jobsOf(ce.ID())[0].Name})
		if err != nil {
			return false
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase != "Failed" && p.Status.Phase != "Succeeded" {
				return false
			}
		}
		return true
	}, reportWithin, 200*time.Millisecond)
}

func TestCompletionTwoReplicasOneFinished(t *testing.T) {
	e := newEnv(t)
	a, b := e.startFunction("replica-a"), e.startFunction("replica-b")
	e.startWatch(a, b) // every Job update reaches both replicas
	e.setConfig(testConfig("alpine:3.20", ""))
	var ids []string
	for range 5 {
		ce := newTriggered("test", scope, "")
		require.Equal(t, http.StatusAccepted, deliver(t, a.url, ce))
		ids = append(ids, ce.ID())
	}
	for _, id := range ids {
		e.waitFinished(id, "test", reportWithin)
	}
	// Let the remaining updates (the marker writes themselves) go through
	// both replicas and a sweep on each, then count.
	time.Sleep(time.Second)
	require.Equal(t, http.StatusAccepted, ping(t, a.url))
	require.Equal(t, http.StatusAccepted, ping(t, b.url))
	for _, id := range ids {
		assert.Len(t, e.eventsFor(id, "sh.keptn.event.test.finished"), 1, id)
	}
}

func TestCompletionKeptnDownThenSweep(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	// The task runs until its deadline, so the Job ends after the delivery
	// has been answered and its settle step found nothing to report.
	e.setConfig(oneTask("", "        image: "+testbed.ImageSleep+"\n        maxPollDuration: 2\n"))
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	// The Job ends while Keptn is down; the watch's first list brings the
	// ended Job, whose send fails.
	e.keptn.SetDown(true)
	waitJobCondition(t, context.Background(), e.kube, e.ns, e.jobsOf(ce.ID())[0].Name, "Failed")
	e.startWatch(fn)
	time.Sleep(500 * time.Millisecond)
	assert.Empty(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"))
	e.keptn.SetDown(false)
	require.Equal(t, http.StatusAccepted, ping(t, fn.url))
	e.waitFinished(ce.ID(), "test", reportWithin)
	require.Equal(t, http.StatusAccepted, ping(t, fn.url))
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
}

func TestCompletionPingOnly(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0") // no ApiServerSource at all
	e.setConfig(testConfig("alpine:3.20", ""))
	var ids []string
	for range 10 {
		ce := newTriggered("test", scope, "")
		require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
		ids = append(ids, ce.ID())
	}
	for _, id := range ids {
		waitJobCondition(t, context.Background(), e.kube, e.ns, e.jobsOf(id)[0].Name, "Complete")
	}
	require.Equal(t, http.StatusAccepted, ping(t, fn.url), "one tick reports everything that ended")
	for _, id := range ids {
		assert.Len(t, e.eventsFor(id, "sh.keptn.event.test.finished"), 1, id)
	}
}

func TestBrokerFiftyEventsWithDuplicates(t *testing.T) {
	e := newEnv(t)
	a, b := e.startFunction("replica-a"), e.startFunction("replica-b")
	e.startWatch(a, b)
	e.setConfig(testConfig("alpine:3.20", ""))
	var ids []string
	for i := range 50 {
		ce := newTriggered("test", scope, "")
		ids = append(ids, ce.ID())
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		go deliverUntilAccepted(t, first.url, ce)
		deliverUntilAccepted(t, second.url, ce)
	}
	for _, id := range ids {
		e.waitFinished(id, "test", 2*reportWithin)
	}
	time.Sleep(time.Second)
	require.Equal(t, http.StatusAccepted, ping(t, a.url))
	assert.Len(t, e.keptn.EventsOfType("sh.keptn.event.test.started"), 50)
	assert.Len(t, e.keptn.EventsOfType("sh.keptn.event.test.finished"), 50)
}

func TestCompletionStructuredResultFromTerminationMessage(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(testConfig(testbed.ImageResult, ""))
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	// The task's JSON is merged under its name and may set the result.
	assert.Equal(t, "warning", fin.Data["result"])
	run, ok := fin.Data["run"].(map[string]any)
	require.True(t, ok, "data carries the task's result under its name: %v", fin.Data)
	assert.Equal(t, map[string]any{"response_time_p95_ms": float64(230), "error_rate": 0.01}, run["sli"])
}
