package reporter

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"
)

// genericJob is failedJob as the builder marks a generic event's Job.
func genericJob() *batchv1.Job {
	j := failedJob()
	j.Annotations[jobs.AnnotationMode] = jobs.ModeGeneric
	j.Annotations[jobs.AnnotationResultType] = "com.example.build.finished"
	j.Annotations[jobs.AnnotationEventID] = "e-1"
	j.Annotations[jobs.AnnotationEventSource] = "ci"
	j.Annotations[jobs.AnnotationEventType] = "com.example.build"
	return j
}

func TestReconcileGenericSendsOneResultEvent(t *testing.T) {
	ctx := context.Background()
	pod := podObj(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer),
		verdicttest.Terminated(verdicttest.C0, 3, "Error", `{"result":"fail","errors":3}`))
	b := newBed(genericJob(), pod)
	b.logs.logs[verdicttest.PodName+"/"+verdicttest.C0] = strings.Repeat("compiling\n", 2000) + "undefined: Foo\n"
	r := b.reconciler(t, "replica-a")
	results := &recorder{}
	r.Sender.GenericSink = results
	r.Config.GenericMaxEventBytes = 4 << 10

	out, err := r.Reconcile(ctx, genericJob())
	require.NoError(t, err)
	assert.Equal(t, Outcome{Reported: true}, out)
	assert.Empty(t, b.sink.types(), "Keptn hears nothing of a generic Job")
	require.Equal(t, []string{"com.example.build.finished"}, results.types())
	ev := results.events[0]
	assert.Equal(t, verdicttest.Ns+"/"+verdicttest.JobName, ev.Subject())
	assert.Equal(t, "e-1", ev.Extensions()[generic.ExtTriggerID])
	assert.Equal(t, "ci", ev.Extensions()[generic.ExtTriggerSource])
	raw, err := json.Marshal(ev)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(raw), 4<<10, "within GENERIC_RESULT_MAX_KB")
	var data map[string]any
	require.NoError(t, json.Unmarshal(ev.Data(), &data))
	assert.Equal(t, "errored", data["status"])
	assert.Contains(t, data["message"], "undefined: Foo", "the log's tail")
	tasks, _ := data["tasks"].([]any)
	require.NotEmpty(t, tasks)
	assert.Contains(t, string(raw), `"exitCode":3`)

	out, err = r.Reconcile(ctx, getJob(t, b.kube))
	require.NoError(t, err)
	assert.Equal(t, Outcome{}, out)
	assert.Len(t, results.types(), 1, "exactly once")
}

func TestDeletedGenericJobSendsItsResult(t *testing.T) {
	b := newBed()
	r := b.reconciler(t, "replica-a")
	results := &recorder{}
	r.Sender.GenericSink = results
	job := genericJob()
	job.Status = batchv1.JobStatus{}
	job.DeletionTimestamp = nil
	b.clock.now = verdicttest.T0.Add(time.Hour)
	out, err := r.Deleted(context.Background(), job)
	require.NoError(t, err)
	assert.True(t, out.Reported)
	assert.Equal(t, []string{"com.example.build.finished"}, results.types())
	assert.Empty(t, b.sink.types())
}
