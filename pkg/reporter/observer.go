package reporter

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"
	batchv1 "k8s.io/api/batch/v1"
)

// Observer hears about what the Sender and the Reconciler did to a Job,
// for metrics and Kubernetes Events (pkg/telemetry). Its methods are
// called on the request path and must not block.
type Observer interface {
	// Sent: a response was sent and recorded on job.
	Sent(ctx context.Context, job *batchv1.Job, ev event.Event)
	// Busy: the claim (its annotation key) was held by another attempt.
	Busy(ctx context.Context, job *batchv1.Job, claim string)
	// Stopped: job could never run and was stopped for reason.
	Stopped(ctx context.Context, job *batchv1.Job, reason, summary string)
}

type noObserver struct{}

func (noObserver) Sent(context.Context, *batchv1.Job, event.Event)       {}
func (noObserver) Busy(context.Context, *batchv1.Job, string)            {}
func (noObserver) Stopped(context.Context, *batchv1.Job, string, string) {}

func (s *Sender) observer() Observer {
	if s.Observer != nil {
		return s.Observer
	}
	return noObserver{}
}
