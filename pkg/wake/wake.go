// Package wake arms and disarms the sweep: the function's PingSource ticks
// on its armed schedule (every minute) only while Jobs of ours are
// unreported, and on its idle schedule (the safety sweep, hourly by
// default) otherwise, so an idle cluster does not keep a replica up.
//
// The rule, argued in docs/completion.md ("Scale to zero"): every Job
// creation is preceded by an arming write (or a read finding a fresh one)
// and followed by a check that re-arms; a disarm is a conditional update (the PingSource's
// resourceVersion read before the list that found nothing unreported),
// waits out Hold after the last arming, and lists again after it, re-arming
// when it finds an unreported Job.
package wake

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
)

// PingSources is Knative's PingSource resource.
var PingSources = schema.GroupVersionResource{Group: "sources.knative.dev", Version: "v1", Resource: "pingsources"}

// Annotations every arming writes on the PingSource. The time changes on
// every arming, so each one changes the resourceVersion a concurrent
// disarm holds (an update that changes nothing would not).
const (
	AnnotationArmedAt = "jobs.keptn.sh/sweep-armed-at"
	AnnotationArmedBy = "jobs.keptn.sh/sweep-armed-by"
)

// ErrNotArmed: the sweep could not be armed, so no Job may be created now;
// the caller answers "retry later".
var ErrNotArmed = errors.New("the sweep could not be armed")

// Client is the part of a dynamic client for PingSources in one namespace
// that the switch uses.
type Client interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions, subresources ...string) (*unstructured.Unstructured, error)
	Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions, subresources ...string) (*unstructured.Unstructured, error)
}

// Switch arms and disarms one PingSource. A nil *Switch does nothing: the
// PingSource keeps whatever schedule the operator applied.
type Switch struct {
	Client Client
	Name   string
	// Armed and Idle are the PingSource schedules while Jobs are
	// unreported and while none are.
	Armed, Idle string
	// Holder names this replica in AnnotationArmedBy.
	Holder string
	// Hold is how long after the last arming no disarm happens: it covers
	// a replica that armed, stalled, then created its Job and crashed
	// before its check (the claims' CLAIM_TTL).
	Hold time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (s *Switch) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Arm writes the armed schedule and a fresh arming time. Call it before
// creating a Job; when it fails, do not create. While the schedule is
// armed and the last arming is younger than half the hold, it only reads:
// a disarm that read the PingSource before this call is then still within
// the hold and stops there, or conflicts with a later arming; either way
// it cannot succeed, as if this call had written. So a burst of Jobs
// writes the PingSource about once per half hold, not once per Job.
func (s *Switch) Arm(ctx context.Context) error {
	if s == nil {
		return nil
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ps, err := s.get(ctx)
		if err != nil {
			return err
		}
		if schedule(ps) == s.Armed && s.armedWithin(ps, s.Hold/2) {
			return nil
		}
		return s.arm(ctx, ps)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotArmed, err)
	}
	return nil
}

// armedWithin says whether ps was armed less than d ago.
func (s *Switch) armedWithin(ps *unstructured.Unstructured, d time.Duration) bool {
	at, err := time.Parse(time.RFC3339Nano, ps.GetAnnotations()[AnnotationArmedAt])
	return err == nil && s.now().Sub(at) < d
}

// EnsureArmed arms when the schedule is not the armed one (one GET
// otherwise). Call it after creating a Job, and when a sweep found Jobs
// unreported.
func (s *Switch) EnsureArmed(ctx context.Context) (bool, error) {
	if s == nil {
		return false, nil
	}
	armed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ps, err := s.get(ctx)
		if err != nil {
			return err
		}
		if schedule(ps) == s.Armed {
			return nil
		}
		armed = true
		return s.arm(ctx, ps)
	})
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrNotArmed, err)
	}
	return armed, nil
}

// Disarm sets the idle schedule if unreported(ctx) finds no Job, checked
// after the PingSource was read and again after the update. It reports
// whether the schedule is idle when it returns. A conflict (someone armed
// meanwhile) leaves the sweep armed and is no error.
func (s *Switch) Disarm(ctx context.Context, unreported func(context.Context) (int, error)) (bool, error) {
	if s == nil {
		return false, nil
	}
	ps, err := s.get(ctx)
	if err != nil {
		return false, err
	}
	if schedule(ps) == s.Idle {
		return true, nil
	}
	if s.armedWithin(ps, s.Hold) {
		return false, nil
	}
	// The list comes after the read: a Job it misses was created after
	// it, so its arming came after the read too, or its creator's check
	// comes after this update (package comment).
	n, err := unreported(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	if err := unstructured.SetNestedField(ps.Object, s.Idle, "spec", "schedule"); err != nil {
		return false, fmt.Errorf("pingsource %s: %w", s.Name, err)
	}
	if _, err := s.Client.Update(ctx, ps, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("disarming pingsource %s: %w", s.Name, err)
	}
	n, err = unreported(ctx)
	if err == nil && n == 0 {
		return true, nil
	}
	// Re-arm: a Job appeared between the list and the update, or the
	// second list failed and we cannot tell.
	if _, aerr := s.EnsureArmed(ctx); aerr != nil {
		return false, errors.Join(err, aerr)
	}
	return false, err
}

func (s *Switch) get(ctx context.Context) (*unstructured.Unstructured, error) {
	ps, err := s.Client.Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading pingsource %s: %w", s.Name, err)
	}
	return ps, nil
}

func (s *Switch) arm(ctx context.Context, ps *unstructured.Unstructured) error {
	if err := unstructured.SetNestedField(ps.Object, s.Armed, "spec", "schedule"); err != nil {
		return fmt.Errorf("pingsource %s: %w", s.Name, err)
	}
	ann := ps.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationArmedAt] = s.now().UTC().Format(time.RFC3339Nano)
	ann[AnnotationArmedBy] = s.Holder
	ps.SetAnnotations(ann)
	_, err := s.Client.Update(ctx, ps, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("arming pingsource %s: %w", s.Name, err)
	}
	return err
}

func schedule(ps *unstructured.Unstructured) string {
	v, _, _ := unstructured.NestedString(ps.Object, "spec", "schedule")
	return v
}
