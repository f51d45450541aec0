package reporter

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"encoding/json"
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// AnnotationSiblings lists, on every Job of a triggered event, the Jobs of
// all actions that matched it (JSON []Sibling, this Job included).
//
// Keptn's shipyard-controller closes a task as soon as, for its
// triggeredid, the .finished events it has seen equal the .started events
// and are more than zero; every later event for that task is dropped. So no
// Job of a triggered event may send its .finished before every matched
// action's .started is out (docs/completion.md, "Several actions"). Each
// Job carries the list because the function keeps no state: whoever is
// about to send a .finished (the watch, the sweep, the handler) reads the
// siblings from the API server and waits while one has not started.
const AnnotationSiblings = jobs.Domain + "siblings"

// Sibling names the Job of one matched action. Namespaces are where it may
// be, in order: the action's namespace, then the job namespace that holds
// record Jobs of actions that could not run.
type Sibling struct {
	Name       string   `json:"name"`
	Namespaces []string `json:"namespaces"`
}

// EncodeSiblings is the annotation value for sibs.
func EncodeSiblings(sibs []Sibling) (string, error) {
	b, err := json.Marshal(sibs)
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", AnnotationSiblings, err)
	}
	return string(b), nil
}

// SiblingsOf decodes job's sibling list; nil when the Job has none (a
// single action, or a Job created before the list existed).
func SiblingsOf(job *batchv1.Job) ([]Sibling, error) {
	raw := job.Annotations[AnnotationSiblings]
	if raw == "" {
		return nil, nil
	}
	var sibs []Sibling
	if err := json.Unmarshal([]byte(raw), &sibs); err != nil {
		return nil, fmt.Errorf("job %s/%s: annotation %s: %w", job.Namespace, job.Name, AnnotationSiblings, err)
	}
	return sibs, nil
}

// startedOrSilent reports whether a sibling Job no longer stands in the way
// of a .finished: its .started is out, or it never sends one.
func startedOrSilent(job *batchv1.Job) bool {
	return job.Annotations[jobs.AnnotationStarted] != "" || job.Annotations[jobs.AnnotationSilent] == "true"
}

// SiblingsStarted reports whether every sibling of job has sent its
// .started (or is silent), so that job's .finished cannot close the task
// in Keptn while a sibling still runs. A sibling not found in any of its
// namespaces has not been created yet (its action waits, for example, on a
// registry): the answer is false, and the .finished waits for it.
func SiblingsStarted(ctx context.Context, get func(namespace string) JobGetter, job *batchv1.Job) (bool, error) {
	sibs, err := SiblingsOf(job)
	if err != nil {
		return false, permanent.New(fmt.Errorf("%w: %w", ErrBadJob, err))
	}
	for _, s := range sibs {
		if s.Name == job.Name && slices.Contains(s.Namespaces, job.Namespace) {
			continue
		}
		ok, err := siblingStarted(ctx, get, s)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// JobGetter reads one Job.
type JobGetter interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*batchv1.Job, error)
}

func siblingStarted(ctx context.Context, get func(namespace string) JobGetter, s Sibling) (bool, error) {
	for _, ns := range s.Namespaces {
		j, err := get(ns).Get(ctx, s.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return false, fmt.Errorf("reading sibling job %s/%s: %w", ns, s.Name, err)
		}
		return startedOrSilent(j), nil
	}
	return false, nil
}

// siblingsStarted is SiblingsStarted with the reconciler's clients. A Job
// older than the record TTL no longer waits: a sibling missing by then was
// reported and removed by its TTL, or will never be created, and holding
// this .finished back for ever would hang the sequence instead.
func (r *Reconciler) siblingsStarted(ctx context.Context, job *batchv1.Job) (bool, error) {
	ok, err := SiblingsStarted(ctx, func(ns string) JobGetter { return r.Jobs(ns) }, job)
	if err != nil || ok {
		return ok, err
	}
	if !job.CreationTimestamp.IsZero() && r.Sender.now().Sub(job.CreationTimestamp.Time) >= r.recordTTL() {
		r.Config.Log.WarnContext(ctx, "a sibling action never started; reporting anyway", "job", job.Namespace+"/"+job.Name)
		return true, nil
	}
	r.Config.Log.DebugContext(ctx, ".finished waits for a sibling action's .started", "job", job.Namespace+"/"+job.Name)
	return false, nil
}
