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

// Started sends .started for job unless it was sent, and records it.
func (s *Sender) Started(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	j, rec, err := s.SendStarted(ctx, job, s.NewHolder())
	if err != nil || rec == nil {
		return j, err
	}
	return rec.Write(ctx)
}

// SendStarted sends .started for a caller that already holds the .started
// claim as holder (the creator of the Job, which wrote the claim into it)
// and returns the write that records it, for the caller to make when it
// suits: the creator answers the broker first (pkg/launch). A nil Record:
// nothing was sent (a silent Job, or one whose .started was recorded).
func (s *Sender) SendStarted(ctx context.Context, job *batchv1.Job, holder string) (*batchv1.Job, *Record, error) {
	if job.Annotations[jobs.AnnotationSilent] == "true" {
		return job, nil, nil
	}
	return s.send(ctx, job, StartedKeys, holder, func(o keptn.Origin) (event.Event, error) {
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
	j, rec, err := s.send(ctx, job, k, holder, build)
	if err != nil || rec == nil {
		return j, err
	}
	return rec.Write(ctx)
}

// send sends the response of claim k under holder's claim, unless it was
// sent or another attempt holds the claim. It returns the write that
// records it, or nil when it sent nothing.
func (s *Sender) send(ctx context.Context, job *batchv1.Job, k claim.Keys, holder string, build func(keptn.Origin) (event.Event, error)) (*batchv1.Job, *Record, error) {
	now := s.now()
	client := s.Jobs(job.Namespace)
	switch claim.Of(job.Annotations, k, holder, now) {
	case claim.Done:
		return job, nil, nil
	case claim.HeldByOther:
		s.observer().Busy(ctx, job, k.Claim)
		return job, nil, ErrBusy
	case claim.Free:
		var won bool
		var err error
		job, won, err = claim.Take(ctx, client, job, k, holder, now, s.ClaimTTL)
		if err != nil {
			return job, nil, err
		}
		if !won {
			if claim.Of(job.Annotations, k, holder, s.now()) == claim.Done {
				return job, nil, nil
			}
			s.observer().Busy(ctx, job, k.Claim)
			return job, nil, ErrBusy
		}
	}
	o, err := jobs.OriginOf(job)
	if err != nil {
		return job, nil, err
	}
	ev, err := build(o)
	if err != nil {
		return job, nil, err
	}
	err = s.sinkFor(job).Send(ctx, ev)
	if err != nil {
		// Let the next attempt (a broker retry, the sweep, another replica)
		// take over at once instead of after the claim expires.
		if j, rerr := claim.Release(context.WithoutCancel(ctx), client, job, k, holder); rerr == nil {
			job = j
		}
		return job, nil, fmt.Errorf("%s for job %s/%s: %w", ev.Type(), job.Namespace, job.Name, err)
	}
	return job, &Record{s: s, job: job, k: k, ev: ev}, nil
}

// Record is the write that records a response as sent (claim.Complete).
// Until it is written the sender's claim keeps every other attempt from
// sending the response again; once the claim expires, one would.
type Record struct {
	s   *Sender
	job *batchv1.Job
	k   claim.Keys
	ev  event.Event
}

// Job is the Job as it was when the response was sent.
func (r *Record) Job() *batchv1.Job { return r.job }

// Write records the response as sent. The event is out: it is written
// even if ctx is cancelled, or a later attempt would send it again.
func (r *Record) Write(ctx context.Context) (*batchv1.Job, error) {
	j, err := claim.Complete(context.WithoutCancel(ctx), r.s.Jobs(r.job.Namespace), r.job, r.k, r.s.now())
	if err != nil {
		return r.job, fmt.Errorf("%s for job %s/%s sent, but recording it failed: %w", r.ev.Type(), r.job.Namespace, r.job.Name, err)
	}
	r.s.observer().Sent(ctx, j, r.ev)
	return j, nil
}

// LogErrorID is the stable id of the log.error about ev's config.
func LogErrorID(ev *keptn.TaskEvent) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("keptn-job:log-error/"+ev.Source+"/"+ev.ID)).String()
}
