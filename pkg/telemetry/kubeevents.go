package telemetry

import (
	"context"
	"sync"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/client-go/kubernetes/scheme"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/flowcontrol"
)

// ReportingController names the function in the Kubernetes Events it
// records (events.k8s.io/v1 reportingController).
const ReportingController = "keptn-sandbox.github.io/job-executor-knative"

// Reasons of the Kubernetes Events recorded on Jobs.
const (
	ReasonCreated      = "Created"
	ReasonStopped      = "Stopped"
	ReasonFinishedSent = "FinishedSent"
)

// Kubernetes Events are diagnostics: they must not take the API server's
// capacity from Jobs. So a Job gets one as it is created and one as it is
// reported (or stopped), not one per step, and they are written at a
// bounded rate per replica (as the kubelet's are, by eventRecordQPS):
// plenty for Keptn's pace of a few events a minute, and a constant, small
// cost under a burst (at 200 triggered events/s, 10 writes/s beside 400 for
// the Jobs; docs/benchmarks.md). A burst beyond the queue is dropped and
// counted.
const (
	EventQPS       = 10
	EventBurst     = 20
	EventQueueSize = 1000
)

// maxNote is the API server's limit on an Event's note.
const maxNote = 1024

// JobEvents records Kubernetes Events (events.k8s.io/v1) on Jobs through
// client-go's event broadcaster, from a bounded queue drained at EventQPS:
// recording never blocks nor slows an event down. A nil *JobEvents records
// nothing.
type JobEvents struct {
	broadcaster events.EventBroadcaster
	recorder    events.EventRecorder
	limiter     flowcontrol.RateLimiter
	queue       chan pendingEvent
	metrics     *Metrics
	cancel      context.CancelFunc
	done        chan struct{}
	stopOnce    sync.Once
}

type pendingEvent struct {
	job                             *batchv1.Job
	eventtype, reason, action, note string
}

// EventsClient is the part of a clientset JobEvents writes through (a
// *kubernetes.Clientset or client-go's fake satisfy it).
type EventsClient interface {
	EventsV1() eventsv1client.EventsV1Interface
}

// NewJobEvents starts recording to kube's events.k8s.io API; m (may be
// nil) counts dropped Events and shows the queue. The function's RBAC must
// allow create and patch on events.events.k8s.io in the job namespaces.
func NewJobEvents(kube EventsClient, m *Metrics) (*JobEvents, error) {
	return newJobEvents(kube, m, flowcontrol.NewTokenBucketRateLimiter(EventQPS, EventBurst), EventQueueSize)
}

func newJobEvents(kube EventsClient, m *Metrics, limiter flowcontrol.RateLimiter, queue int) (*JobEvents, error) {
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: kube.EventsV1()})
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		cancel()
		return nil, err
	}
	e := &JobEvents{
		broadcaster: b,
		recorder:    b.NewRecorder(scheme.Scheme, ReportingController),
		limiter:     limiter,
		queue:       make(chan pendingEvent, queue),
		metrics:     m,
		cancel:      cancel,
		done:        make(chan struct{}),
	}
	if err := m.observeEventQueue(func() int64 { return int64(len(e.queue)) }); err != nil {
		cancel()
		return nil, err
	}
	go e.drain(ctx)
	return e, nil
}

// Record queues an Event about job. eventtype is corev1.EventTypeNormal or
// EventTypeWarning; note is cut to the API server's limit. When the queue
// is full the Event is dropped.
func (e *JobEvents) Record(job *batchv1.Job, eventtype, reason, action, note string) {
	if e == nil || job == nil {
		return
	}
	select {
	case e.queue <- pendingEvent{job: job, eventtype: eventtype, reason: reason, action: action, note: truncate(note, maxNote)}:
	default:
		e.metrics.eventDropped(context.Background(), reason)
	}
}

func (e *JobEvents) drain(ctx context.Context) {
	defer close(e.done)
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-e.queue:
			if e.limiter.Wait(ctx) != nil {
				return
			}
			// Eventf formats its note; ours is already text. The write
			// itself happens in the broadcaster's goroutine.
			e.recorder.Eventf(p.job, nil, p.eventtype, p.reason, p.action, "%s", p.note)
		}
	}
}

// Shutdown stops recording; Events still queued are dropped.
func (e *JobEvents) Shutdown() {
	if e == nil {
		return
	}
	e.stopOnce.Do(func() {
		e.cancel()
		<-e.done
		e.broadcaster.Shutdown()
	})
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence,
// marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := n - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}
