package reporter

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"golang.org/x/sync/errgroup"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"knative.dev/eventing/pkg/apis/sources"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// Event types this package handles: an ApiServerSource in Resource mode
// (eventing's constants), and PingSource ticks (answer those with Sweep).
const (
	// EventPrefix starts every type of Resource mode; eventing names the
	// types, not their prefix (TestEventPrefixIsEventingsTypes).
	EventPrefix = "dev.knative.apiserver.resource."
	EventAdd    = sources.ApiServerSourceAddEventType
	EventUpdate = sources.ApiServerSourceUpdateEventType
	EventDelete = sources.ApiServerSourceDeleteEventType
	// EventPing is sources/v1's PingSourceEventType, spelled here: that
	// package would add 3.2 MB to the binary for one string.
	EventPing = "dev.knative.sources.ping"
)

// legacyJobNameLabel is the pod label Job controllers before 1.27 set.
const legacyJobNameLabel = "job-name"

// HandleEvent handles an ApiServerSource event whose data is one of our
// Jobs or their pods. Job add/update: reconcile it. Pod add/update: a pod
// stuck in ImagePullBackOff and the like does not change its Job's status,
// so such a pod reconciles its Job (which stops it and reports); so does a
// pod that has ended (the early verdict). Job delete:
// a Job deleted before it was reported is reported from the deleted object.
//
// The error is nil when another replica is already sending (the sweep is
// the safety net); pkg/permanent tells whether it is final (ErrBadEvent, a
// Job that cannot be reported, the API server's refusal) or worth a retry.
func (r *Reconciler) HandleEvent(ctx context.Context, ce event.Event) error {
	return final(r.handleEvent(ctx, ce))
}

func (r *Reconciler) handleEvent(ctx context.Context, ce event.Event) error {
	switch ce.Type() {
	case EventAdd, EventUpdate, EventDelete:
	default:
		if slices.Contains(sources.ApiServerSourceEventReferenceModeTypes, ce.Type()) {
			return fmt.Errorf("%w: %s carries only a reference; set the ApiServerSource's mode to Resource", ErrBadEvent, ce.Type())
		}
		return fmt.Errorf("%w: type %q", ErrBadEvent, ce.Type())
	}
	var head metav1.TypeMeta
	if err := json.Unmarshal(ce.Data(), &head); err != nil {
		return permanent.New(fmt.Errorf("%w: data is not a Kubernetes object: %w", ErrBadEvent, err))
	}
	kind := head.Kind
	if kind == "" {
		kind, _ = ce.Extensions()["kind"].(string)
	}
	var err error
	switch kind {
	case "Job":
		var job batchv1.Job
		if err := json.Unmarshal(ce.Data(), &job); err != nil {
			return permanent.New(fmt.Errorf("%w: data is not a Job: %w", ErrBadEvent, err))
		}
		_, err = r.jobHint(ctx, &job, ce.Type() == EventDelete)
	case "Pod":
		if ce.Type() == EventDelete {
			return nil
		}
		var pod corev1.Pod
		if err := json.Unmarshal(ce.Data(), &pod); err != nil {
			return permanent.New(fmt.Errorf("%w: data is not a Pod: %w", ErrBadEvent, err))
		}
		_, err = r.PodChanged(ctx, &pod)
	default:
		return fmt.Errorf("%w: kind %q: want Job or Pod", ErrBadEvent, kind)
	}
	return err
}

// jobHint handles a Job event as what it is, a hint from an unauthenticated
// caller: anyone who reaches the function can POST a Job with a made-up
// Complete condition. The Job is read from the API server and judged from
// there; an event whose Job is not the live one (another UID) is ignored,
// since the live Job gets events of its own and the sweep covers it.
//
// A delete hint is believed only when the API server has no Job of that
// name. Its payload cannot be checked any more, so it never reports a pass:
// the report says the Job was deleted before it was reported (a record
// Job's own error is kept), as errored.
func (r *Reconciler) jobHint(ctx context.Context, hint *batchv1.Job, deleted bool) (Outcome, error) {
	if !r.ours(hint) || hint.Name == "" || !deleted && (r.settled(hint) || running(hint)) {
		return Outcome{}, nil
	}
	live, err := r.Jobs(hint.Namespace).Get(ctx, hint.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && deleted:
		return r.Deleted(ctx, unverified(hint))
	case apierrors.IsNotFound(err):
		return Outcome{}, nil
	case err != nil:
		return Outcome{}, fmt.Errorf("reading job %s/%s: %w", hint.Namespace, hint.Name, err)
	case live.UID != hint.UID:
		r.Config.Log.WarnContext(ctx, "ignoring a job event that does not match the live job", "job", hint.Namespace+"/"+hint.Name, "event_uid", string(hint.UID), "live_uid", string(live.UID))
		return Outcome{}, nil
	}
	return r.Reconcile(ctx, live)
}

// settled reports whether a Job event's payload shows nothing left to do
// for it: its .finished recorded, or being sent by an attempt whose claim
// is live (its own claim write, for one, is a Job event). Believing that
// is safe: a forged payload only spares the Job a read for that event,
// while each real change of the Job comes as an event of its own, and a
// claim that expires unreported is the sweep's.
func (r *Reconciler) settled(hint *batchv1.Job) bool {
	return claim.Of(hint.Annotations, FinishedKeys, "", r.Sender.now()) != claim.Free
}

// running reports whether a Job event's payload shows a Job whose
// .started is recorded and whose outcome is not: the Job controller's
// writes while its pod runs. Nothing is due from such an event that its
// pod's own events (the end, or a pod stuck in ImagePullBackOff) and the
// condition's Job event do not bring, so reading the Job and its pods for
// it was two requests spent, several times per Job. A report-due mark, a
// placeholder and a record Job are always read.
func running(hint *batchv1.Job) bool {
	a := hint.Annotations
	return a[jobs.AnnotationStarted] != "" && a[AnnotationReportDue] == "" &&
		a[jobs.AnnotationWaiting] == "" && a[jobs.AnnotationInvalid] == "" && !verdict.Decided(hint)
}

// counted reports whether an ended pod's payload shows the Job controller
// has counted it (its job-tracking finalizer removed): the Job's status
// write that follows is a Job event of its own, which decides, and the
// pod's end itself came as an earlier event.
func counted(pod *corev1.Pod) bool {
	return verdict.Ended(pod) && !slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer)
}

// unverified is a deleted Job's payload without what only the API server
// could vouch for: its status and a stop record.
func unverified(hint *batchv1.Job) *batchv1.Job {
	job := hint.DeepCopy()
	job.Status = batchv1.JobStatus{}
	delete(job.Annotations, jobs.AnnotationStopped)
	return job
}

// jobNameOf is the name of pod's Job, from the label the Job controller
// sets.
func jobNameOf(pod *corev1.Pod) string {
	if name := pod.Labels[batchv1.JobNameLabel]; name != "" {
		return name
	}
	return pod.Labels[legacyJobNameLabel]
}

// PodChanged reconciles the Job of pod when pod shows it can never run, or
// has ended (a Job of one pod is decided by it, about a second before the
// Job controller writes the condition). Other pod changes are left to the
// Job's own events.
//
// The Job and its pods are read at once (the pods by the Job's name label,
// then kept only if the Job read controls them): neither read needs the
// other's answer, and a report from a pod's end waits for the slower of the
// two instead of both (docs/completion.md, "Reporting from the pod's end").
func (r *Reconciler) PodChanged(ctx context.Context, pod *corev1.Pod) (Outcome, error) {
	if pod.Labels[jobs.LabelManagedBy] != r.Config.ManagedBy {
		return Outcome{}, nil
	}
	name := jobNameOf(pod)
	if name == "" || len(validation.IsValidLabelValue(name)) > 0 {
		// Not a Job controller's label: the name also selects the pods.
		return Outcome{}, nil
	}
	if !verdict.Stuck(pod, r.Sender.now(), r.Config.Eval) && !verdict.Ended(pod) || counted(pod) {
		return Outcome{}, nil
	}
	var (
		job  *batchv1.Job
		pods []corev1.Pod
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if job, err = r.Jobs(pod.Namespace).Get(gctx, name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("reading job %s/%s of pod %s: %w", pod.Namespace, name, pod.Name, err)
		}
		return nil
	})
	g.Go(func() (err error) {
		if pods, err = r.hintedPods(gctx, pod); err != nil {
			return fmt.Errorf("listing pods of job %s/%s: %w", pod.Namespace, name, err)
		}
		return nil
	})
	// The first failure cancels the other read and is the one returned.
	switch err := g.Wait(); {
	case apierrors.IsNotFound(err):
		return Outcome{}, nil
	case err != nil:
		return Outcome{}, err
	}
	return r.reconcileWith(ctx, job, controlledBy(job, pods), podSource{listed: true})
}

// hintedListWait bounds how long a pod list waits for the API server's
// watch cache to reach a pod event's resourceVersion. The API server that
// sent the event has it already, another one lags by milliseconds; only a
// forged event names a version no cache reaches soon (the API server would
// hold the list for 3 s), and then a consistent list decides.
const hintedListWait = time.Second

// hintedPods lists the pods of hint's Job (by the Job name label hint
// carries) from the API server's watch cache, no older than hint. A
// consistent list (no resourceVersion) waits until that cache has caught
// up with etcd's latest revision, which took 70-80 ms in one report out of
// two on the bed (docs/benchmarks.md, "Completion"): longer than the rest
// of a report. When the cache does not show the hinted pod as the event
// does, or refuses the version (a forged one), a consistent list decides:
// a forged hint costs its sender that list, nothing more.
func (r *Reconciler) hintedPods(ctx context.Context, hint *corev1.Pod) ([]corev1.Pod, error) {
	label := batchv1.JobNameLabel
	if hint.Labels[label] == "" {
		label = legacyJobNameLabel
	}
	opts := metav1.ListOptions{LabelSelector: labels.Set{label: hint.Labels[label]}.String()}
	pods := r.Pods(hint.Namespace)
	if hint.ResourceVersion != "" {
		cached := opts
		cached.ResourceVersion, cached.ResourceVersionMatch = hint.ResourceVersion, metav1.ResourceVersionMatchNotOlderThan
		wctx, cancel := context.WithTimeout(ctx, hintedListWait)
		list, err := pods.List(wctx, cached)
		cancel()
		if err == nil && shows(list.Items, hint) {
			return list.Items, nil
		}
	}
	list, err := pods.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// shows reports whether pods hold hint's pod, ended if hint has.
func shows(pods []corev1.Pod, hint *corev1.Pod) bool {
	for i := range pods {
		if pods[i].UID == hint.UID {
			return !verdict.Ended(hint) || verdict.Ended(&pods[i])
		}
	}
	return false
}

// controlledBy keeps the pods job controls: a pod listed by the Job's name
// may belong to an earlier Job of that name, or to no Job at all.
func controlledBy(job *batchv1.Job, pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == job.UID {
			out = append(out, p)
		}
	}
	return out
}
