package launch

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
)

// failCreates makes the first n creates of the action's real Job (not its
// placeholder or records) fail as an API server in trouble does.
func failCreates(kube *fake.Clientset, n int32) {
	var left atomic.Int32
	left.Store(n)
	kube.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if job.Annotations[jobs.AnnotationWaiting] == "" && job.Annotations[jobs.AnnotationInvalid] == "" && left.Add(-1) >= 0 {
			return true, nil, errors.New("etcdserver: request timed out")
		}
		return false, nil, nil
	})
}

func kinds(rec *recorder) []string {
	var out []string
	for _, typ := range rec.types() {
		out = append(out, typ[strings.LastIndex(typ, ".")+1:])
	}
	return out
}

func finishedMessages(t *testing.T, rec *recorder) []string {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, ev := range rec.sent {
		if strings.HasSuffix(ev.Type(), ".finished") {
			var d map[string]any
			require.NoError(t, ev.DataAs(&d))
			out = append(out, d["status"].(string)+": "+d["message"].(string))
		}
	}
	return out
}

// An action that must wait for the API server gets Keptn's .started on the
// first delivery, from a placeholder under its Job name. Then either a
// retry runs it, inheriting that .started, or the retry window (counted
// from the event's time, by the handler or the sweep) gives it up with an
// errored .finished naming the cause. Keptn counts one .started and, in the
// end, one .finished, whichever comes first.
func TestHandleWaitingAction(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	type delivery struct {
		at    time.Duration // since the event's time
		sweep bool          // a sweep at this time instead of a delivery
	}
	for name, tc := range map[string]struct {
		fails      int32
		deliveries []delivery
		want       []string
		// wantRetry is whether the last delivery asks the Broker to retry.
		wantRetry bool
		gaveUp    bool
	}{
		"waits": {
			fails: 5, deliveries: []delivery{{at: time.Second}},
			want: []string{"started"}, wantRetry: true,
		},
		"waits, then runs": {
			fails: 1, deliveries: []delivery{{at: time.Second}, {at: 3 * time.Second}},
			want: []string{"started"},
		},
		"old already: given up at once": {
			fails: 5, deliveries: []delivery{{at: time.Minute}},
			want: []string{"started", "finished"}, gaveUp: true,
		},
		"waits, then the last retry gives up": {
			fails: 5, deliveries: []delivery{{at: time.Second}, {at: 3 * time.Second}, {at: time.Minute}},
			want: []string{"started", "finished"}, gaveUp: true,
		},
		"the sweep gives up; a late retry changes nothing": {
			fails: 1, deliveries: []delivery{{at: time.Second}, {at: time.Minute, sweep: true}, {at: time.Minute}},
			want: []string{"started", "finished"}, gaveUp: true,
		},
		"a late run wins over the sweep": {
			fails: 1, deliveries: []delivery{{at: time.Second}, {at: 50 * time.Second}, {at: time.Minute, sweep: true}},
			want: []string{"started"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			h, kube := newHandler(t, hello, rec)
			failCreates(kube, tc.fails)
			var now time.Time
			h.Now = func() time.Time { return now }
			h.Responses.Now = h.Now
			r, err := reporter.NewReconciler(kube, h.Responses, reporter.Config{ManagedBy: h.Settings.ManagedBy, Namespaces: []string{"ns"}, RetryWindow: DefaultRetryWindow})
			require.NoError(t, err)
			h.Settle = func(ctx context.Context, job *batchv1.Job) error {
				_, err := r.Reconcile(ctx, job)
				return err
			}
			ev := triggered(t, "sh.keptn.event.deployment.triggered")
			ev.Time = t0
			for _, d := range tc.deliveries {
				now = t0.Add(d.at)
				if d.sweep {
					_, err = r.Sweep(context.Background())
					require.NoError(t, err)
					continue
				}
				_, err = h.Handle(context.Background(), ev)
			}
			if tc.wantRetry {
				assert.False(t, permanent.Is(err), "%v", err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, kinds(rec))
			msgs := finishedMessages(t, rec)
			if tc.gaveUp {
				require.Len(t, msgs, 1)
				assert.Contains(t, msgs[0], "errored: ")
				assert.Contains(t, msgs[0], "RETRY_WINDOW")
				assert.Contains(t, msgs[0], "etcdserver: request timed out", "names the cause")
			}

			// A sweep now sends nothing more: the placeholder never sends
			// .finished, and only one Job holds the name after it.
			before := len(rec.types())
			now = t0.Add(2 * time.Minute)
			_, err = r.Sweep(context.Background())
			require.NoError(t, err)
			if !tc.gaveUp && !tc.wantRetry {
				// The run's Job has not ended: nothing to report yet.
				assert.Len(t, rec.types(), before)
			}
			list, err := kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			for _, j := range list.Items {
				if j.Annotations[jobs.AnnotationWaiting] == "" {
					assert.NotContains(t, j.Annotations, jobs.AnnotationStartClaim, "%s inherits the placeholder's .started", j.Name)
					continue
				}
				assert.NotEmpty(t, j.Annotations[jobs.AnnotationReported], "the placeholder is marked done once the Job after it exists")
			}
		})
	}
}

// Keptn's resource-service answers 500 for a commit it does not know, on
// every retry. Within the retry window the Broker retries and Keptn hears
// nothing (no action is known yet); past it, Keptn gets one .started and
// one errored .finished naming the cause, and later deliveries add nothing.
func TestHandleConfigUnreadableGivesUp(t *testing.T) {
	rec := &recorder{}
	h, kube := newHandler(t, hello, rec, withResources(failing{}))
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := t0.Add(time.Second)
	h.Now = func() time.Time { return now }
	ev := triggered(t, "sh.keptn.event.deployment.triggered")
	ev.Time = t0

	_, err := h.Handle(context.Background(), ev)
	assert.False(t, permanent.Is(err))
	assert.Empty(t, rec.types())

	now = t0.Add(time.Minute)
	for range 2 {
		_, err = h.Handle(context.Background(), ev)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"started", "finished"}, kinds(rec))
	msgs := finishedMessages(t, rec)
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0], "connection refused")
	assert.Contains(t, msgs[0], "RETRY_WINDOW")

	// Even if the config can be read now, the task is closed in Keptn.
	h2, _ := newHandler(t, hello, rec)
	h.Configs = h2.Configs
	_, err = h.Handle(context.Background(), ev)
	require.NoError(t, err)
	assert.Len(t, rec.types(), 2)
	list, err := kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, list.Items, 1, "only the record of the event")

	// An event without a time has no age: only the Broker's retries bound it.
	ev2 := triggered(t, "sh.keptn.event.deployment.triggered")
	ev2.ID = "id-2"
	h.Configs = &Configs{Resources: failing{}}
	_, err = h.Handle(context.Background(), ev2)
	assert.False(t, permanent.Is(err))
}

// When an earlier delivery read the config and created the actions' Jobs,
// a later failure to read it does not give the event up: the Jobs answer
// for themselves, and a record would add a failure to a task that may pass.
func TestHandleConfigUnreadableAfterJobsExist(t *testing.T) {
	rec := &recorder{}
	h, kube := newHandler(t, hello, rec)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	now := t0.Add(time.Second)
	h.Now = func() time.Time { return now }
	ev := triggered(t, "sh.keptn.event.deployment.triggered")
	ev.Time = t0
	_, err := h.Handle(context.Background(), ev)
	require.NoError(t, err)

	now = t0.Add(time.Minute)
	h.Configs = &Configs{Resources: failing{}}
	_, err = h.Handle(context.Background(), ev)
	assert.False(t, permanent.Is(err))
	assert.Equal(t, []string{"started"}, kinds(rec))
	list, err := kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, list.Items, 1, "no record of the event")
}
