package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// TestEarlyVerdictMatchesTheJobController: the function reports a Job of
// one pod as soon as its pod has ended, before the Job controller writes
// the condition. Once the condition is there, the verdict from it must be
// the one that was sent: for success, failure, onError warn, a deadline
// that kills the task, a fail-fast stop, and a deadline that passes right
// after the task ended (the early claim removes it, so the controller
// cannot call a finished task DeadlineExceeded).
func TestEarlyVerdictMatchesTheJobController(t *testing.T) {
	e := newEnv(t)
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	tests := []struct {
		name  string
		image string
		extra string
		early bool // the report came from the pod: the deadline is gone
	}{
		{name: "succeeded", image: testbed.ImageExit(0), early: true},
		{name: "failed", image: testbed.ImageExit(3), early: true},
		{name: "onError warn", image: testbed.ImageExit(1), extra: "        onError: warn\n", early: true},
		{name: "deadline kills the task", image: testbed.ImageSleep, extra: "        maxPollDuration: 2\n"},
		{name: "fail-fast stop", image: testbed.ImagePullBackOff, extra: "        maxPollDuration: 3600\n"},
		{name: "deadline right after the end", image: testbed.ImageExit(0), extra: "        maxPollDuration: 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.setConfig(testConfig(tt.image, tt.extra))
			ce := newTriggered("test", scope, "")
			require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
			fin := e.waitFinished(ce.ID(), "test", reportWithin)

			job, pods := e.confirmed(ce.ID())
			v := verdict.Evaluate(job, pods, time.Now(), verdict.EvalOptions{})
			require.True(t, v.Terminal)
			assert.False(t, v.Early, "judged from the Job controller's condition")
			assert.Equal(t, v.Finished.Status, fin.Data["status"])
			assert.Equal(t, v.Finished.Result, fin.Data["result"])
			msg, _ := fin.Data["message"].(string)
			assert.True(t, strings.HasPrefix(msg, v.Finished.Message), "sent:\n%s\nthe condition says:\n%s", msg, v.Finished.Message)
			if tt.early {
				assert.Nil(t, job.Spec.ActiveDeadlineSeconds, "reported early: the claim removed the deadline")
			}
		})
	}
}

// confirmed waits until the Job of triggered event id has its Complete or
// Failed condition and returns it with its pods.
func (e *env) confirmed(id string) (*batchv1.Job, []corev1.Pod) {
	e.t.Helper()
	var job batchv1.Job
	require.Eventually(e.t, func() bool {
		jobs := e.jobsOf(id)
		if len(jobs) != 1 {
			return false
		}
		job = jobs[0]
		for _, c := range job.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}, reportWithin, 100*time.Millisecond, "the Job controller confirms")
	pods, err := e.kube.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job.Name})
	require.NoError(e.t, err)
	return &job, pods.Items
}

// TestEarlyPodEndsBeforeStartedIsRecorded: on kwok a task's pod ends at
// once, so with the watch running its end can be seen while the creator
// is still sending .started. The stand-in holds the .started POST until
// the watch has marked the Job (reporter.AnnotationReportDue): the pod has
// ended, the .finished is due, and it cannot go out yet. The creator's
// write that records .started then conflicts with the mark and reports
// the Job at once: exactly one .finished, after the .started, with no
// sweep.
func TestEarlyPodEndsBeforeStartedIsRecorded(t *testing.T) {
	var e *env
	var id atomic.Value
	id.Store("")
	var marked atomic.Bool
	hold := func(ev keptnstandin.Event) {
		if ev.Type != "sh.keptn.event.test.started" || ev.Triggeredid != id.Load().(string) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), reportWithin)
		defer cancel()
		err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(context.Context) (bool, error) {
			for _, j := range e.jobsOf(ev.Triggeredid) {
				if j.Annotations[reporter.AnnotationReportDue] != "" {
					return true, nil
				}
			}
			return false, nil
		})
		marked.Store(err == nil)
	}
	e = newEnv(t, withKeptn(keptnstandin.WithEventHook(hold)))
	fn := e.startFunction("replica-0")
	e.startWatch(fn)
	e.setConfig(testConfig("alpine:3.20", ""))

	ce := newTriggered("test", scope, "")
	id.Store(ce.ID())
	require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
	require.True(t, marked.Load(), "the watch saw the pod end while .started was being sent, and marked the Job")
	fin := e.waitFinished(ce.ID(), "test", reportWithin)
	assert.Equal(t, "pass", fin.Data["result"])

	started := e.eventsFor(ce.ID(), "sh.keptn.event.test.started")
	require.Len(t, started, 1)
	assert.True(t, started[0].Received.Before(fin.Received), ".finished after .started")
	// Whatever the watch still delivers for this Job sends nothing more;
	// a sweep finds it reported.
	require.Equal(t, http.StatusAccepted, ping(t, fn.url))
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
	job := e.jobsOf(ce.ID())[0]
	assert.NotEmpty(t, job.Annotations[jobs.AnnotationReported])
}
