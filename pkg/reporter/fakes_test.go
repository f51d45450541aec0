package reporter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/claim/claimtest"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

var jobsResource = claimtest.JobsResource

// newKube is a fake clientset whose Job updates are decided by
// resourceVersion as the API server decides them.
func newKube(objs ...runtime.Object) *fake.Clientset {
	return claimtest.NewClientset(objs...)
}

// setJobStatus stands in for the Job controller.
func setJobStatus(t *testing.T, cs *fake.Clientset, mutate func(*batchv1.Job)) {
	t.Helper()
	obj, err := cs.Tracker().Get(jobsResource, verdicttest.Ns, verdicttest.JobName)
	require.NoError(t, err)
	job := obj.(*batchv1.Job).DeepCopy()
	mutate(job)
	job.ResourceVersion += "0"
	require.NoError(t, cs.Tracker().Update(jobsResource, job, verdicttest.Ns))
}

func getJob(t *testing.T, cs *fake.Clientset) *batchv1.Job {
	t.Helper()
	job, err := cs.BatchV1().Jobs(verdicttest.Ns).Get(context.Background(), verdicttest.JobName, metav1.GetOptions{})
	require.NoError(t, err)
	return job
}

// recorder is a sink that keeps what it is sent.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
	// fail makes that many next sends fail as Keptn answering 503 would.
	fail int
	// entered, when set, receives a value as a send starts, and the send
	// waits for release.
	entered chan struct{}
	release chan struct{}
}

func (r *recorder) Send(_ context.Context, ev event.Event) error {
	r.mu.Lock()
	entered, release := r.entered, r.release
	r.entered = nil
	if r.fail > 0 {
		r.fail--
		r.mu.Unlock()
		return &sink.SendError{Status: 503, Err: errors.New("keptn is down")}
	}
	r.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
		<-release
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		out = append(out, ev.Type())
	}
	return out
}

// finished returns the data of the only .finished sent.
func (r *recorder) finished(t *testing.T) map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var found []event.Event
	for _, ev := range r.events {
		if strings.HasSuffix(ev.Type(), ".finished") {
			found = append(found, ev)
		}
	}
	require.Len(t, found, 1, "exactly one .finished")
	var data map[string]any
	require.NoError(t, json.Unmarshal(found[0].Data(), &data))
	return data
}

// clock is a settable time shared by a test's reconcilers.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type bed struct {
	kube  *fake.Clientset
	sink  *recorder
	logs  *logStore
	clock *clock
}

func newBed(objs ...runtime.Object) *bed {
	return &bed{
		kube:  newKube(objs...),
		sink:  &recorder{},
		logs:  &logStore{logs: map[string]string{}},
		clock: &clock{now: verdicttest.T0.Add(2 * time.Minute)},
	}
}

// reconciler is one replica.
func (b *bed) reconciler(t *testing.T, holder string) *Reconciler {
	t.Helper()
	sender := &Sender{
		Jobs:     func(ns string) claim.JobClient { return b.kube.BatchV1().Jobs(ns) },
		Sink:     b.sink,
		Source:   "job-executor-knative",
		Holder:   holder,
		ClaimTTL: time.Minute,
		Now:      b.clock.Now,
	}
	r, err := NewReconciler(b.kube, sender, Config{ManagedBy: verdicttest.ManagedBy, Namespaces: []string{verdicttest.Ns}, Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	r.Logs = b.logs
	return r
}

func podObj(opts ...verdicttest.PodOpt) *corev1.Pod {
	p := verdicttest.NewPod(opts...)
	return &p
}

// jobWrites counts the updates and deletes of Jobs so far.
func jobWrites(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetResource().Resource == "jobs" && (a.GetVerb() == "update" || a.GetVerb() == "delete") {
			n++
		}
	}
	return n
}
