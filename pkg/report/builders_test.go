package report

import (
	"encoding/json"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// Builders of Jobs and pods shaped like the ones jobs.Build makes and the
// Job controller and kubelet update.

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

const (
	managedBy = "keptn-job-executor"
	ns        = "keptn-jobs"
	jobName   = "keptn-greet-0123456789abcdef"
	podName   = jobName + "-x7k2p"
	c0        = "task-0-greet"
	c1        = "task-1-post"
)

var origin = keptn.Origin{
	Task: "deployment", TriggeredID: "trig-1", Context: "ctx-1",
	Project: "p", Stage: "dev", Service: "svc", GitCommitID: "abc123",
}

type jobOpt func(*batchv1.Job)

func newJob(opts ...jobOpt) *batchv1.Job {
	o, _ := json.Marshal(origin)
	tasks, _ := json.Marshal([]jobs.TaskRef{{Name: "greet", Container: c0}, {Name: "post", Container: c1}})
	j := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: jobName, Namespace: ns, ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(t0),
			Labels:            map[string]string{jobs.LabelManagedBy: managedBy},
			Annotations: map[string]string{
				jobs.AnnotationOrigin:  string(o),
				jobs.AnnotationTasks:   string(tasks),
				jobs.AnnotationStarted: t0.Format(time.RFC3339Nano),
			},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To[int64](300),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: jobs.FetcherContainer}, {Name: c0}},
				Containers:     []corev1.Container{{Name: c1}},
			}},
		},
		Status: batchv1.JobStatus{StartTime: ptr.To(metav1.NewTime(t0.Add(time.Second)))},
	}
	for _, opt := range opts {
		opt(j)
	}
	return j
}

func withAnnotation(k, v string) jobOpt {
	return func(j *batchv1.Job) { j.Annotations[k] = v }
}

func withoutAnnotation(k string) jobOpt {
	return func(j *batchv1.Job) { delete(j.Annotations, k) }
}

func withTasks(refs ...jobs.TaskRef) jobOpt {
	return func(j *batchv1.Job) {
		b, _ := json.Marshal(refs)
		j.Annotations[jobs.AnnotationTasks] = string(b)
	}
}

func withOriginTask(task string) jobOpt {
	return func(j *batchv1.Job) {
		o := origin
		o.Task = task
		b, _ := json.Marshal(o)
		j.Annotations[jobs.AnnotationOrigin] = string(b)
	}
}

func withCondition(typ batchv1.JobConditionType, reason, message string, at time.Time) jobOpt {
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

func complete(at time.Time) jobOpt {
	return withCondition(batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods", at)
}

func failedWith(reason string, at time.Time) jobOpt {
	return withCondition(batchv1.JobFailed, reason, "Job failed: "+reason, at)
}

func withoutFetcher() jobOpt {
	return func(j *batchv1.Job) { j.Spec.Template.Spec.InitContainers = j.Spec.Template.Spec.InitContainers[1:] }
}

type podOpt func(*corev1.Pod)

func newPod(opts ...podOpt) corev1.Pod {
	p := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: podName, Namespace: ns, ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(t0.Add(time.Second)),
			Labels: map[string]string{
				jobs.LabelManagedBy:  managedBy,
				batchv1.JobNameLabel: jobName,
				legacyJobNameLabel:   jobName,
			},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, opt := range opts {
		opt(&p)
	}
	return p
}

func setStatus(p *corev1.Pod, name string, s corev1.ContainerState) {
	st := corev1.ContainerStatus{Name: name, State: s}
	list := &p.Status.InitContainerStatuses
	if name == c1 {
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

func terminated(name string, code int32, reason, message string) podOpt {
	return func(p *corev1.Pod) {
		setStatus(p, name, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: message}})
	}
}

func ok(name string) podOpt { return terminated(name, 0, "Completed", "") }

func running(name string) podOpt {
	return func(p *corev1.Pod) {
		setStatus(p, name, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}})
	}
}

func waiting(name, reason, message string) podOpt {
	return func(p *corev1.Pod) {
		setStatus(p, name, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}})
	}
}

func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}

func podReason(reason, message string) podOpt {
	return func(p *corev1.Pod) { p.Status.Reason, p.Status.Message = reason, message }
}

func unschedulable(since time.Time, message string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: message, LastTransitionTime: metav1.NewTime(since),
		})
	}
}

// succeededPod is the pod of a Job whose every container exited 0.
func succeededPod(opts ...podOpt) corev1.Pod {
	return newPod(append([]podOpt{phase(corev1.PodSucceeded), ok(jobs.FetcherContainer), ok(c0), ok(c1)}, opts...)...)
}
