package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// seenJob is what the tracker saw of one Job, keyed by the triggered
// event's id (the jobs.AnnotationEventID every Job carries).
type seenJob struct {
	Name  string
	Added time.Time // when the watch delivered its creation
	// Ended is when the watch first showed a terminal condition (true
	// SuccessCriteriaMet, FailureTarget, Complete or Failed: what the
	// function reports on); Transition is that condition's
	// lastTransitionTime (whole seconds).
	Ended      time.Time
	Transition time.Time
	// PodEnded is when the watch first showed the Job's pod Succeeded or
	// Failed: the Job controller's condition follows, later when it lags.
	PodEnded time.Time
}

// tracker watches a namespace's Jobs (an informer: a list, then a watch)
// and records when each appeared and ended.
type tracker struct {
	mu       sync.Mutex
	jobs     map[string]*seenJob
	podEnded map[string]time.Time // by Job name
	changed  chan struct{}
}

func newTracker(tb testing.TB, w *world) *tracker {
	t := &tracker{jobs: map[string]*seenJob{}, podEnded: map[string]time.Time{}, changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	f := informers.NewSharedInformerFactoryWithOptions(w.kube, 0, informers.WithNamespace(w.ns))
	inf := f.Batch().V1().Jobs().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.observe(obj) },
		UpdateFunc: func(_, obj any) { t.observe(obj) },
	})
	must(tb, err)
	pods := f.Core().V1().Pods().Informer()
	_, err = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.observePod(obj) },
		UpdateFunc: func(_, obj any) { t.observePod(obj) },
	})
	must(tb, err)
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced, pods.HasSynced) {
		tb.Fatal("job and pod informers did not sync")
	}
	return t
}

func (t *tracker) observePod(obj any) {
	now := time.Now()
	pod, ok := obj.(*corev1.Pod)
	if !ok || (pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed) {
		return
	}
	name := pod.Labels[batchv1.JobNameLabel]
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.podEnded[name]; !seen && name != "" {
		t.podEnded[name] = now
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

func (t *tracker) observe(obj any) {
	now := time.Now()
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	id := job.Annotations[jobs.AnnotationEventID]
	if id == "" {
		id = job.Name
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.jobs[id]
	if s == nil {
		s = &seenJob{Name: job.Name, Added: now}
		t.jobs[id] = s
	}
	if s.Ended.IsZero() {
		for _, c := range job.Status.Conditions {
			switch c.Type {
			case batchv1.JobSuccessCriteriaMet, batchv1.JobFailureTarget, batchv1.JobComplete, batchv1.JobFailed:
				if c.Status == corev1.ConditionTrue && (s.Transition.IsZero() || c.LastTransitionTime.Time.Before(s.Transition)) {
					s.Ended, s.Transition = now, c.LastTransitionTime.Time
				}
			}
		}
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// get returns what was seen of the Job of event id.
func (t *tracker) get(id string) (seenJob, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.jobs[id]
	if !ok {
		return seenJob{}, false
	}
	out := *s
	out.PodEnded = t.podEnded[s.Name]
	return out, true
}

// waitFor waits until done holds for every id, or ctx ends; it returns how
// many ids were still not done.
func (t *tracker) waitFor(ctx context.Context, ids []string, done func(seenJob) bool) int {
	for {
		t.mu.Lock()
		missing := 0
		for _, id := range ids {
			s, ok := t.jobs[id]
			if !ok {
				missing++
				continue
			}
			v := *s
			v.PodEnded = t.podEnded[s.Name]
			if !done(v) {
				missing++
			}
		}
		changed := t.changed
		t.mu.Unlock()
		if missing == 0 {
			return 0
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return missing
		}
	}
}

func added(s seenJob) bool { return !s.Added.IsZero() }
func ended(s seenJob) bool { return !s.Ended.IsZero() }
