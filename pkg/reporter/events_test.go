package reporter

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"knative.dev/eventing/pkg/apis/sources"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// apiServerEvent is what the ApiServerSource adapter sends in Resource mode.
func apiServerEvent(t *testing.T, typ string, obj any, kind string) event.Event {
	t.Helper()
	ev := event.New()
	ev.SetID("uuid-1")
	ev.SetType(typ)
	ev.SetSource("https://10.96.0.1:443")
	ev.SetExtension("kind", kind)
	ev.SetExtension("namespace", verdicttest.Ns)
	require.NoError(t, ev.SetData(event.ApplicationJSON, obj))
	return ev
}

func TestHandleJobEvents(t *testing.T) {
	b := newBed(failedJob(), failedPod())
	r := b.reconciler(t, "a")
	require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, failedJob(), "Job")))
	assert.Equal(t, "errored", b.sink.finished(t)["status"])

	// Data without TypeMeta: the kind extension says what it is.
	bare := failedJob()
	bare.TypeMeta = metav1.TypeMeta{}
	require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventAdd, bare, "Job")))
	assert.Len(t, b.sink.types(), 1, "still one")
}

// TestHandleForgedJobEvents: a Job event is a hint. Whatever its payload
// says, the verdict comes from the Job the API server holds (issue 16
// point 2: a POSTed copy of a running Job with a made-up Complete condition
// made Keptn record a pass).
func TestHandleForgedJobEvents(t *testing.T) {
	forged := func() *batchv1.Job { return verdicttest.NewJob(verdicttest.Complete(verdicttest.T0.Add(time.Minute))) }
	otherUID := forged()
	otherUID.UID = "forged-uid"
	tests := []struct {
		name string
		live []runtime.Object
		typ  string
		hint *batchv1.Job
		want string // status of the .finished sent, "" for none
	}{
		{name: "update: live Job still running", live: []runtime.Object{verdicttest.NewJob()}, typ: EventUpdate, hint: forged()},
		{name: "add: live Job still running", live: []runtime.Object{verdicttest.NewJob()}, typ: EventAdd, hint: forged()},
		{name: "update: no such Job", typ: EventUpdate, hint: forged()},
		{name: "update: another UID, live Job failed", live: []runtime.Object{failedJob(), failedPod()}, typ: EventUpdate, hint: otherUID},
		{name: "delete: live Job still running", live: []runtime.Object{verdicttest.NewJob()}, typ: EventDelete, hint: forged()},
		{name: "delete: another Job of that name lives", live: []runtime.Object{verdicttest.NewJob()}, typ: EventDelete, hint: otherUID},
		{name: "delete: no such Job, claims Complete", typ: EventDelete, hint: forged(), want: "errored"},
		{name: "update: the live Job did complete", live: []runtime.Object{forged(), podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))}, typ: EventUpdate, hint: forged(), want: "succeeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(tt.live...)
			require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, tt.typ, tt.hint, "Job")))
			if tt.want == "" {
				assert.Empty(t, b.sink.types(), "nothing is reported from the payload")
				return
			}
			assert.Equal(t, tt.want, b.sink.finished(t)["status"])
		})
	}
}

func TestHandleStuckPodStopsItsJob(t *testing.T) {
	stuckPod := podObj(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer), verdicttest.Waiting(verdicttest.C0, "InvalidImageName", "bad name"))
	b := newBed(verdicttest.NewJob(), stuckPod)
	r := b.reconciler(t, "a")
	require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, stuckPod, "Pod")))
	assert.Contains(t, b.sink.finished(t)["message"], "InvalidImageName: bad name")
	assert.Equal(t, int64(1), *getJob(t, b.kube).Spec.ActiveDeadlineSeconds)
}

func TestHandleOrdinaryPodChangesWithoutAPICalls(t *testing.T) {
	b := newBed(verdicttest.NewJob())
	r := b.reconciler(t, "a")
	for _, p := range []*corev1.Pod{
		podObj(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0)),
		podObj(verdicttest.Phase(corev1.PodPending), verdicttest.Waiting(jobs.FetcherContainer, "ErrImagePull", "try again")),
		// Killed by the Job controller (its deadline): the condition decides.
		podObj(verdicttest.Phase(corev1.PodFailed), verdicttest.Terminated(verdicttest.C0, 137, "Error", ""), deleting),
	} {
		require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, p, "Pod")))
	}
	foreign := podObj(verdicttest.Phase(corev1.PodPending), verdicttest.Waiting(verdicttest.C0, "ImagePullBackOff", ""))
	foreign.Labels[jobs.LabelManagedBy] = "other"
	require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, foreign, "Pod")))
	require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventDelete, podObj(), "Pod")))
	assert.Empty(t, b.kube.Actions(), "pod churn costs no API calls")
	assert.Empty(t, b.sink.types())
}

func TestHandleRefusesUnusableEvents(t *testing.T) {
	r := newBed().reconciler(t, "a")
	ref := apiServerEvent(t, "dev.knative.apiserver.ref.update", map[string]string{"kind": "Job", "name": "x"}, "Job")
	notJSON := event.New()
	notJSON.SetType(EventUpdate)
	require.NoError(t, notJSON.SetData("text/plain", []byte("hello")))
	for name, ev := range map[string]event.Event{
		"reference mode": ref,
		"not JSON":       notJSON,
		"other kind":     apiServerEvent(t, EventUpdate, map[string]string{"kind": "ConfigMap"}, "ConfigMap"),
		"other type":     apiServerEvent(t, "dev.knative.sources.ping", map[string]string{}, ""),
	} {
		err := r.HandleEvent(context.Background(), ev)
		require.ErrorIs(t, err, ErrBadEvent, name)
		assert.True(t, permanent.Is(err), name)
	}
	assert.Contains(t, r.HandleEvent(context.Background(), ref).Error(), "mode to Resource")
}

func TestHandleDeletedJobs(t *testing.T) {
	tests := []struct {
		name   string
		job    *batchv1.Job
		status string // of the .finished; "" when none is due
	}{
		{name: "ended, unreported", job: failedJob(), status: "errored"},
		{name: "running, unreported", job: verdicttest.NewJob(), status: "errored"},
		// A delete event cannot be checked against the API server any
		// more, so its Complete condition is not believed (issue 16).
		{name: "succeeded, unreported", job: verdicttest.NewJob(verdicttest.Complete(verdicttest.T0.Add(time.Minute))), status: "errored"},
		{name: "reported", job: verdicttest.NewJob(verdicttest.Complete(verdicttest.T0), verdicttest.WithAnnotation(jobs.AnnotationReported, verdicttest.T0.Format(time.RFC3339Nano)))},
		{name: "claimed by a replica that is sending", job: verdicttest.NewJob(verdicttest.Complete(verdicttest.T0), verdicttest.WithAnnotation(jobs.AnnotationReportClaim, claim.Value("b/1", verdicttest.T0.Add(time.Hour))))},
		{name: "never started", job: verdicttest.NewJob(verdicttest.Complete(verdicttest.T0), verdicttest.WithoutAnnotation(jobs.AnnotationStarted))},
		{name: "silent", job: verdicttest.NewJob(verdicttest.Complete(verdicttest.T0), verdicttest.WithAnnotation(jobs.AnnotationSilent, "true"))},
		// The Job after a placeholder owes its action's .finished.
		{name: "a placeholder", job: verdicttest.NewJob(verdicttest.WithAnnotation(jobs.AnnotationWaiting, "registry down"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed() // the Job is gone from the API
			require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, EventDelete, tt.job, "Job")))
			if tt.status == "" {
				assert.Empty(t, b.sink.types())
				return
			}
			data := b.sink.finished(t)
			assert.Equal(t, tt.status, data["status"])
			assert.Equal(t, ResponseID(tt.job, "finished"), b.sink.events[0].ID())
		})
	}
	b := newBed()
	require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, EventDelete, verdicttest.NewJob(), "Job")))
	assert.Contains(t, b.sink.finished(t)["message"], "was deleted before it finished")
}

func TestSweepPagesThroughJobs(t *testing.T) {
	var objs []runtime.Object
	for i := range 7 {
		j := failedJob()
		j.Name = "job-" + strconv.Itoa(i)
		objs = append(objs, j)
	}
	b := newBed(objs...)
	// The fake ignores Limit; serve pages by offset, and expire the first
	// continue token once, as etcd compaction would.
	var limits []int64
	expired := false
	b.kube.PrependReactor("list", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		opts := a.(k8stesting.ListActionImpl).ListOptions
		limits = append(limits, opts.Limit)
		if opts.Continue == "3" && !expired {
			expired = true
			return true, nil, apierrors.NewResourceExpired("continue token expired")
		}
		all, err := b.kube.Tracker().List(jobsResource, batchv1.SchemeGroupVersion.WithKind("Job"), verdicttest.Ns)
		if err != nil {
			return true, nil, err
		}
		items := all.(*batchv1.JobList).Items
		from, _ := strconv.Atoi(opts.Continue)
		to := min(from+int(opts.Limit), len(items))
		page := &batchv1.JobList{Items: items[from:to]}
		if to < len(items) {
			page.Continue = strconv.Itoa(to)
		}
		return true, page, nil
	})
	r := b.reconciler(t, "a")
	r.Config.PageSize = 3
	st, err := r.Sweep(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []int64{3, 3, 3, 3, 3}, limits, "pages of 3 (0-2, expired, 0-2, 3-5, 6); the expired token restarts the list once")
	assert.Equal(t, 7, st.Reported)
	assert.Len(t, b.sink.types(), 7, "Jobs seen twice after the restart are reported once")
}

func TestSweepReportsListFailures(t *testing.T) {
	b := newBed()
	b.kube.PrependReactor("list", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("apiserver is restarting")
	})
	_, err := b.reconciler(t, "a").Sweep(context.Background())
	require.Error(t, err)
	assert.False(t, permanent.Is(err))
}

// TestEventPrefixIsEventingsTypes: EventPrefix, ours, routes exactly the
// types eventing gives the ApiServerSource's Resource mode, and none of
// Reference mode's (those are refused with a hint).
func TestEventPrefixIsEventingsTypes(t *testing.T) {
	for _, typ := range sources.ApiServerSourceEventResourceModeTypes {
		assert.True(t, strings.HasPrefix(typ, EventPrefix), typ)
	}
	for _, typ := range sources.ApiServerSourceEventReferenceModeTypes {
		assert.False(t, strings.HasPrefix(typ, EventPrefix), typ)
	}
}

// A Job event whose payload shows its .finished recorded, or being sent
// under a live claim (the claim's own write is such an event), reads
// nothing: believing it only spares that event's reads. A claim that has
// expired is no claim: the Job is read and reported. A forged "settled"
// payload for a Job that is due leaves it to its own events.
func TestASettledJobEventReadsNothing(t *testing.T) {
	now := verdicttest.T0.Add(2 * time.Minute)
	for _, tt := range []struct {
		name    string
		payload verdicttest.JobOpt
		reads   bool
	}{
		{name: "reported", payload: verdicttest.WithAnnotation(jobs.AnnotationReported, now.Format(time.RFC3339Nano))},
		{name: "claimed", payload: verdicttest.WithAnnotation(FinishedKeys.Claim, claim.Value("other/1", now.Add(time.Minute)))},
		{name: "claim expired", payload: verdicttest.WithAnnotation(FinishedKeys.Claim, claim.Value("other/1", now.Add(-time.Second))), reads: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(failedJob(), failedPod())
			r := b.reconciler(t, "a")
			payload := failedJob()
			tt.payload(payload)
			require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, payload, "Job")))
			if !tt.reads {
				assert.Empty(t, b.kube.Actions())
				assert.Empty(t, b.sink.types())
				require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, failedJob(), "Job")))
			}
			assert.Equal(t, "fail", b.sink.finished(t)["result"], "the live Job is reported from a true event")
		})
	}
}

// A Job event that shows a running Job whose .started is recorded reads
// nothing: its pod's events and the condition's Job event bring whatever
// is due. Every other Job event reads the Job.
func TestARunningJobEventReadsNothing(t *testing.T) {
	for _, tt := range []struct {
		name    string
		payload *batchv1.Job
		reads   bool
	}{
		{name: "running, started", payload: verdicttest.NewJob()},
		{name: "not started", payload: verdicttest.NewJob(verdicttest.WithoutAnnotation(jobs.AnnotationStarted)), reads: true},
		{name: "report due", payload: verdicttest.NewJob(verdicttest.WithAnnotation(AnnotationReportDue, "now")), reads: true},
		{name: "waiting", payload: verdicttest.NewJob(verdicttest.WithAnnotation(jobs.AnnotationWaiting, "registry down")), reads: true},
		{name: "record", payload: verdicttest.NewJob(verdicttest.WithAnnotation(jobs.AnnotationInvalid, "bad config")), reads: true},
		{name: "condition", payload: failedJob(), reads: true},
		{name: "stopped", payload: verdicttest.NewJob(verdicttest.WithAnnotation(jobs.AnnotationStopped, "{}")), reads: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(verdicttest.NewJob(), podObj())
			require.NoError(t, b.reconciler(t, "a").HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, tt.payload, "Job")))
			assert.Equal(t, tt.reads, len(b.kube.Actions()) > 0)
		})
	}
}

// An ended pod that the Job controller has counted (its job-tracking
// finalizer gone) reads nothing: its end came as an earlier event, and
// the Job's status write that follows is a Job event that decides.
func TestACountedPodEventReadsNothing(t *testing.T) {
	ended := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	counted := ended.DeepCopy()
	counted.Finalizers = nil
	b := newBed(verdicttest.NewJob(), counted)
	r := b.reconciler(t, "a")
	require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, counted, "Pod")))
	assert.Empty(t, b.kube.Actions())
	require.NoError(t, r.HandleEvent(context.Background(), apiServerEvent(t, EventUpdate, ended, "Pod")))
	assert.Equal(t, "succeeded", b.sink.finished(t)["status"], "the uncounted end reports")
}
