package reporter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

// Claim keys of the two responses.
var (
	StartedKeys  = claim.Keys{Claim: jobs.AnnotationStartClaim, Done: jobs.AnnotationStarted}
	FinishedKeys = claim.Keys{Claim: jobs.AnnotationReportClaim, Done: jobs.AnnotationReported}
)

// ErrBusy means another replica holds the claim right now; the caller should
// answer with a retryable status so the work is looked at again later.
var ErrBusy = errors.New("another replica is sending this response")

// ErrNotStarted means .finished was asked for before .started was sent:
// Keptn ignores a .finished without its .started, so it waits.
var ErrNotStarted = errors.New(".started has not been sent yet")

// JobsFor returns the Job client of a namespace.
type JobsFor func(namespace string) claim.JobClient

// Sender sends responses exactly once per Job.
type Sender struct {
	Jobs JobsFor
	Sink sink.Sender
	// GenericSink, if set, receives generic Jobs' results (pkg/generic)
	// instead of Sink.
	GenericSink sink.Sender
	Source      string
	// Holder names this replica in claims (its pod name); each attempt adds
	// a nonce (NewHolder).
	Holder string
	// ClaimTTL bounds how long a crashed holder blocks a response.
	ClaimTTL time.Duration
	Now      func() time.Time
	// Observer, if set, hears about each response sent and each claim
	// found busy.
	Observer Observer
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Started sends .started for job unless it was sent. A job created by this
// replica already carries our claim (written at creation), so the common path
// costs one send and one update.
func (s *Sender) Started(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	return s.StartedHolding(ctx, job, s.NewHolder())
}

// StartedHolding is Started for a caller that already holds the .started
// claim as holder: the creator of the Job, which wrote the claim into it.
func (s *Sender) StartedHolding(ctx context.Context, job *batchv1.Job, holder string) (*batchv1.Job, error) {
	if job.Annotations[jobs.AnnotationSilent] == "true" {
		return job, nil
	}
	return s.once(ctx, job, StartedKeys, holder, func(o keptn.Origin) (event.Event, error) {
		return keptn.StartedEvent(s.Source, ResponseID(job, keptn.KindStarted), o, s.now())
	})
}

// Finished sends .finished with f for job unless it was sent.
func (s *Sender) Finished(ctx context.Context, job *batchv1.Job, f keptn.Finished) (*batchv1.Job, error) {
	if job.Annotations[jobs.AnnotationSilent] == "true" {
		return job, nil
	}
	if job.Annotations[jobs.AnnotationStarted] == "" {
		return job, ErrNotStarted
	}
	return s.once(ctx, job, FinishedKeys, s.NewHolder(), func(o keptn.Origin) (event.Event, error) {
		return s.finishedEvent(job, o, f, nil)
	})
}

// ResponseID is a stable event id per Job and kind. Only a K_SINK receiver
// that de-duplicates by id benefits: Keptn's api-service replaces every
// event's id, so nothing here relies on de-duplication by Keptn
// (docs/completion.md, Known limits).
func ResponseID(job *batchv1.Job, kind string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("keptn-job:"+job.Namespace+"/"+job.Name+"/"+kind)).String()
}

// NewHolder names one attempt: the replica plus a nonce. Claims are per
// attempt, not per replica, because one replica serves concurrent
// deliveries of the same event, and only one of them may send.
func (s *Sender) NewHolder() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return s.Holder + "/" + hex.EncodeToString(b[:])
}

func (s *Sender) once(ctx context.Context, job *batchv1.Job, k claim.Keys, holder string, build func(keptn.Origin) (event.Event, error)) (*batchv1.Job, error) {
	now := s.now()
	client := s.Jobs(job.Namespace)
	switch claim.Of(job.Annotations, k, holder, now) {
	case claim.Done:
		return job, nil
	case claim.HeldByOther:
		s.observer().Busy(ctx, job, k.Claim)
		return job, ErrBusy
	case claim.Free:
		var won bool
		var err error
		job, won, err = claim.Take(ctx, client, job, k, holder, now, s.ClaimTTL)
		if err != nil {
			return job, err
		}
		if !won {
			if claim.Of(job.Annotations, k, holder, s.now()) == claim.Done {
				return job, nil
			}
			s.observer().Busy(ctx, job, k.Claim)
			return job, ErrBusy
		}
	}
	o, err := jobs.OriginOf(job)
	if err != nil {
		return job, err
	}
	ev, err := build(o)
	if err != nil {
		return job, err
	}
	if err := s.sinkFor(job).Send(ctx, ev); err != nil {
		// Let the next attempt (a broker retry, the sweep, another replica)
		// take over at once instead of after the claim expires.
		if j, rerr := claim.Release(context.WithoutCancel(ctx), client, job, k, holder); rerr == nil {
			job = j
		}
		return job, fmt.Errorf("%s for job %s/%s: %w", ev.Type(), job.Namespace, job.Name, err)
	}
	// The event is out: mark it even if the caller's context is gone, or a
	// later attempt would send it again.
	j, err := claim.Complete(context.WithoutCancel(ctx), client, job, k, s.now())
	if err != nil {
		return job, fmt.Errorf("%s for job %s/%s sent, but recording it failed: %w", ev.Type(), job.Namespace, job.Name, err)
	}
	s.observer().Sent(ctx, j, ev)
	return j, nil
}

// LogErrorID is the stable id of the log.error about ev's config.
func LogErrorID(ev *keptn.TaskEvent) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("keptn-job:log-error/"+ev.Source+"/"+ev.ID)).String()
}
