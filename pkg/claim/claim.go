// Package claim makes "send this event exactly once" hold across replicas,
// retries and crashes, with the Job itself as the lock: a claim annotation
// written with optimistic concurrency (resourceVersion), an expiry so a
// crashed holder does not block forever, and a done marker once sent (a
// patch: once the event is out, no condition is left to check).
package claim

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// Keys names the two annotations of one claim: the claim and its done marker.
type Keys struct {
	Claim string
	Done  string
}

// State is what the annotations say about a claim at a given time.
type State int

const (
	// Free: nobody holds it and it is not done.
	Free State = iota
	// HeldByUs: our own live claim.
	HeldByUs
	// HeldByOther: another holder's claim that has not expired.
	HeldByOther
	// Done: the event was sent.
	Done
)

func (s State) String() string {
	return [...]string{"free", "held by us", "held by another", "done"}[s]
}

// Value is the annotation value of a claim by holder until expiry.
func Value(holder string, expiry time.Time) string {
	return holder + " " + expiry.UTC().Format(time.RFC3339Nano)
}

// Parse splits a claim value. A value that does not parse counts as expired,
// so a corrupted annotation cannot block reporting forever.
func Parse(v string) (holder string, expiry time.Time, ok bool) {
	h, t, found := strings.Cut(v, " ")
	if !found || h == "" {
		return "", time.Time{}, false
	}
	exp, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return "", time.Time{}, false
	}
	return h, exp, true
}

// Of reads the state of claim k on annotations for holder at now.
func Of(annotations map[string]string, k Keys, holder string, now time.Time) State {
	if annotations[k.Done] != "" {
		return Done
	}
	v, ok := annotations[k.Claim]
	if !ok {
		return Free
	}
	h, exp, ok := Parse(v)
	if !ok || !now.Before(exp) {
		return Free
	}
	if h == holder {
		return HeldByUs
	}
	return HeldByOther
}

// JobClient is the part of client-go's JobInterface a claim needs.
type JobClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*batchv1.Job, error)
	Update(ctx context.Context, job *batchv1.Job, opts metav1.UpdateOptions) (*batchv1.Job, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*batchv1.Job, error)
}

// maxConflicts bounds the re-read loop. Conflicts come mostly from the Job
// controller writing status; a handful of rounds always settles them.
const maxConflicts = 8

// Take tries to claim k on job for holder until now+ttl. It returns the
// updated Job and true when the claim is ours; false with the latest Job
// when someone else holds it or it is done. The write carries the Job's
// resourceVersion, so of two racing replicas exactly one wins.
func Take(ctx context.Context, c JobClient, job *batchv1.Job, k Keys, holder string, now time.Time, ttl time.Duration) (*batchv1.Job, bool, error) {
	return Update(ctx, c, job, func(j *batchv1.Job) (bool, bool) {
		switch Of(j.Annotations, k, holder, now) {
		case Done, HeldByOther:
			return false, false
		}
		setAnnotation(j, k.Claim, Value(holder, now.Add(ttl)))
		return true, true
	})
}

// Complete records k as done at now and drops the claim, in one JSON merge
// patch rather than a resourceVersion-checked update. It needs no
// condition: the event is out, so "done" is true whoever wrote the Job
// since. The API server applies it to the Job as it is at that moment, so
// it never conflicts with the Job controller, which writes a new Job's
// status just when its creator records .started (an update's 409 cost a
// backoff, a read and a second write: most of a cold start's first
// answer). The answer is the Job after the patch, so a mark another writer
// put on it first (reporter.AnnotationReportDue) is in it. The patch
// carries job's UID: a Job deleted and created again under the same name
// is another Job, and the API server refuses to change a UID.
func Complete(ctx context.Context, c JobClient, job *batchv1.Job, k Keys, now time.Time) (*batchv1.Job, error) {
	if job.Annotations[k.Done] != "" {
		return job, nil
	}
	patch, err := completePatch(job.UID, k, now)
	if err != nil {
		return job, err
	}
	j, err := c.Patch(ctx, job.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return job, fmt.Errorf("recording %s on job %s/%s: %w", k.Done, job.Namespace, job.Name, err)
	}
	return j, nil
}

// completePatch is Complete's JSON merge patch: the done marker set, the
// claim removed (null), and the UID as a precondition.
func completePatch(uid types.UID, k Keys, now time.Time) ([]byte, error) {
	meta := map[string]any{"annotations": map[string]any{
		k.Done:  now.UTC().Format(time.RFC3339Nano),
		k.Claim: nil,
	}}
	if uid != "" {
		meta["uid"] = uid
	}
	return json.Marshal(map[string]any{"metadata": meta})
}

// Release drops holder's claim so another attempt can take it at once,
// rather than after the expiry: used when sending failed.
func Release(ctx context.Context, c JobClient, job *batchv1.Job, k Keys, holder string) (*batchv1.Job, error) {
	j, _, err := Update(ctx, c, job, func(j *batchv1.Job) (bool, bool) {
		h, _, _ := Parse(j.Annotations[k.Claim])
		if h != holder {
			return false, true
		}
		delete(j.Annotations, k.Claim)
		return true, true
	})
	return j, err
}

// conflictBackoff is client-go's retry.DefaultRetry with our number of
// attempts: a conflict means another writer just wrote the Job, and a short
// jittered pause before re-reading lets its burst settle.
var conflictBackoff = wait.Backoff{Steps: maxConflicts, Duration: 10 * time.Millisecond, Factor: 1, Jitter: 0.1}

// Update applies mutate to the latest Job and writes it with optimistic
// concurrency, re-reading on conflict (retry.RetryOnConflict). mutate
// returns (write, result); without a write the Job is left as read.
func Update(ctx context.Context, c JobClient, job *batchv1.Job, mutate func(*batchv1.Job) (bool, bool)) (*batchv1.Job, bool, error) {
	cur := job.DeepCopy()
	var out *batchv1.Job
	var result, reread bool
	err := retry.RetryOnConflict(conflictBackoff, func() error {
		if reread {
			fresh, err := c.Get(ctx, job.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("re-reading job %s/%s after a conflict: %w", job.Namespace, job.Name, err)
			}
			cur = fresh
		}
		reread = true
		write, res := mutate(cur)
		if !write {
			out, result = cur, res
			return nil
		}
		updated, err := c.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("updating job %s/%s: %w", job.Namespace, job.Name, err)
		}
		out, result = updated, res
		return nil
	})
	if apierrors.IsConflict(err) {
		return job, false, fmt.Errorf("still conflicting after %d attempts: %w", maxConflicts, err)
	}
	if err != nil {
		return job, false, err
	}
	return out, result, nil
}

func setAnnotation(j *batchv1.Job, k, v string) {
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations[k] = v
}
