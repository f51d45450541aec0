// Package verdicttest builds Jobs and pods shaped like the ones jobs.Build
// makes and the Job controller and kubelet update, for the tests of
// pkg/verdict and pkg/reporter.
package verdicttest

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// T0 is the Jobs' creation time.
var T0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

const (
	ManagedBy = "keptn-job-executor"
	Ns        = "keptn-jobs"
	JobName   = "keptn-greet-0123456789abcdef"
	PodName   = JobName + "-x7k2p"
	// JobUID is NewJob's UID; NewPod's pod is controlled by it, as the
	// Job controller's pods are.
	JobUID = types.UID("0d9c3f5e-job-uid")
	C0     = "task-0-greet"
	C1     = "task-1-post"
)

var Origin = keptn.Origin{
	Task: "deployment", TriggeredID: "trig-1", Context: "ctx-1",
	Project: "p", Stage: "dev", Service: "svc", GitCommitID: "abc123",
}

type JobOpt func(*batchv1.Job)

func NewJob(opts ...JobOpt) *batchv1.Job {
	o := mustJSON(Origin)
	tasks := mustJSON([]jobs.TaskRef{{Name: "greet", Container: C0}, {Name: "post", Container: C1}})
	j := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: JobName, Namespace: Ns, UID: JobUID, ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(T0),
			Labels:            map[string]string{jobs.LabelManagedBy: ManagedBy},
			Annotations: map[string]string{
				jobs.AnnotationOrigin:  string(o),
				jobs.AnnotationTasks:   string(tasks),
				jobs.AnnotationStarted: T0.Format(time.RFC3339Nano),
			},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To[int64](300),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:  corev1.RestartPolicyNever,
				InitContainers: []corev1.Container{{Name: jobs.FetcherContainer}, {Name: C0}},
				Containers:     []corev1.Container{{Name: C1}},
			}},
		},
		Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(T0.Add(time.Second)))},
	}
	for _, opt := range opts {
		opt(j)
	}
	return j
}

func WithAnnotation(k, v string) JobOpt {
	return func(j *batchv1.Job) { j.Annotations[k] = v }
}

func WithoutAnnotation(k string) JobOpt {
	return func(j *batchv1.Job) { delete(j.Annotations, k) }
}

func WithTasks(refs ...jobs.TaskRef) JobOpt {
	return func(j *batchv1.Job) {
		b, _ := json.Marshal(refs)
		j.Annotations[jobs.AnnotationTasks] = string(b)
	}
}

func WithOriginTask(task string) JobOpt {
	return func(j *batchv1.Job) {
		o := Origin
		o.Task = task
		b, _ := json.Marshal(o)
		j.Annotations[jobs.AnnotationOrigin] = string(b)
	}
}

func WithCondition(typ batchv1.JobConditionType, reason, message string, at time.Time) JobOpt {
	return func(j *batchv1.Job) {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{
			Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message,
			LastTransitionTime: metav1.NewTime(at),
		})
		if typ == batchv1.JobComplete {
			j.Status.CompletionTime = ptr.To(metav1.NewTime(at))
		}
	}
}

func Complete(at time.Time) JobOpt {
	return WithCondition(batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods", at)
}

func FailedWith(reason string, at time.Time) JobOpt {
	return WithCondition(batchv1.JobFailed, reason, "Job failed: "+reason, at)
}

func WithoutFetcher() JobOpt {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.InitContainers = j.Spec.Template.Spec.InitContainers[1:] }
}

type PodOpt func(*corev1.Pod)

func NewPod(opts ...PodOpt) corev1.Pod {
	p := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: PodName, Namespace: Ns, ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(T0.Add(time.Second)),
			Labels: map[string]string{
				jobs.LabelManagedBy:  ManagedBy,
				batchv1.JobNameLabel: JobName,
				"job-name":           JobName, // the label Job controllers before 1.27 set
			},
			// The Job controller's, until it has counted the pod's end.
			Finalizers: []string{batchv1.JobTrackingFinalizer},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "Job", Name: JobName, UID: JobUID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, opt := range opts {
		opt(&p)
	}
	return p
}

func SetStatus(p *corev1.Pod, name string, s corev1.ContainerState) {
	st := corev1.ContainerStatus{Name: name, State: s}
	list := &p.Status.InitContainerStatuses
	if name == C1 {
		list = &p.Status.ContainerStatuses
	}
	for i := range *list {
		if (*list)[i].Name == name {
			(*list)[i] = st
			return
		}
	}
	*list = append(*list, st)
}

func Terminated(name string, code int32, reason, message string) PodOpt {
	return func(p *corev1.Pod) {
		SetStatus(p, name, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: message}})
	}
}

func OK(name string) PodOpt { return Terminated(name, 0, "Completed", "") }

func Running(name string) PodOpt {
	return func(p *corev1.Pod) {
		SetStatus(p, name, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(T0)}})
	}
}

func Waiting(name, reason, message string) PodOpt {
	return func(p *corev1.Pod) {
		SetStatus(p, name, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}})
	}
}

func Phase(ph corev1.PodPhase) PodOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}

func PodReason(reason, message string) PodOpt {
	return func(p *corev1.Pod) { p.Status.Reason, p.Status.Message = reason, message }
}

func Unschedulable(since time.Time, message string) PodOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: message, LastTransitionTime: metav1.NewTime(since),
		})
	}
}

// SucceededPod is the pod of a Job whose every container exited 0.
func SucceededPod(opts ...PodOpt) corev1.Pod {
	return NewPod(append([]PodOpt{Phase(corev1.PodSucceeded), OK(jobs.FetcherContainer), OK(C0), OK(C1)}, opts...)...)
}

// NoisyLog is a long log with everything JSON escapes, multi-byte runes
// and an invalid byte, numbered so that its head and tail are recognisable.
func NoisyLog(lines int) string {
	var b strings.Builder
	for i := range lines {
		b.WriteString("line " + strconv.Itoa(i) + ` <b>"quoted"</b> & tab	ünïcødé 🚀 ` + "\x01\xff\n")
	}
	return b.String()
}

// mustJSON encodes test values that always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
