package verdict

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// Reasons a task line shows besides the kubelet's own (Completed, Error,
// OOMKilled, ImagePullBackOff, ErrImagePull, InvalidImageName,
// CreateContainerConfigError, ...).
const (
	ReasonCompleted        = "Completed"
	ReasonError            = "Error"
	ReasonRunning          = "Running"
	ReasonNotRun           = "not run"
	ReasonUnknown          = "unknown"
	ReasonDeadlineExceeded = "DeadlineExceeded"
	ReasonEvicted          = "Evicted"
	ReasonUnschedulable    = "Unschedulable"
	ReasonDeleted          = "Deleted"
)

// maxDetail keeps one line readable and the stop annotation small.
const maxDetail = 300

// Line is one row of the report: a task (or the file fetcher) and what
// became of its container.
type Line struct {
	// Task is the task's name; empty for the file fetcher.
	Task      string `json:"task,omitempty"`
	Container string `json:"container"`
	ExitCode  *int32 `json:"exitCode,omitempty"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail,omitempty"`
	// Ran means the container started, so it has a log worth fetching.
	Ran bool `json:"ran,omitempty"`
	// Warn is the task's onError: warn.
	Warn bool `json:"warn,omitempty"`
}

// Name is how the line names its subject in messages.
func (l Line) Name() string {
	if l.Task == "" {
		return "file fetcher"
	}
	return fmt.Sprintf("task %q", l.Task)
}

func (l Line) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s]: ", l.Name(), l.Container)
	if l.ExitCode != nil {
		fmt.Fprintf(&b, "exit code %d, ", *l.ExitCode)
	}
	b.WriteString(l.Reason)
	if l.Detail != "" {
		b.WriteString(": ")
		b.WriteString(l.Detail)
	}
	return b.String()
}

// completed reports whether the container ended with exit code 0.
func (l Line) completed() bool {
	return l.ExitCode != nil && *l.ExitCode == 0
}

// failed reports whether the container ended with a non-zero exit code.
func (l Line) failed() bool {
	return l.ExitCode != nil && *l.ExitCode != 0
}

// lineOf describes container name of pod (nil when there is no pod).
func lineOf(task, container string, warn bool, st *corev1.ContainerStatus) Line {
	l := Line{Task: task, Container: container, Reason: ReasonNotRun, Warn: warn}
	if st == nil {
		return l
	}
	switch s := st.State; {
	case s.Terminated != nil:
		code := s.Terminated.ExitCode
		l.ExitCode = &code
		l.Ran = true
		l.Reason = s.Terminated.Reason
		if l.Reason == "" {
			l.Reason = ReasonError
			if code == 0 {
				l.Reason = ReasonCompleted
			}
		}
		// A task's termination message is either its structured result
		// (merged into the data) or, with FallbackToLogsOnError, the tail of
		// its log (shown with the log); the fetcher's is its one-line error.
		if task == "" && code != 0 {
			l.Detail = Fold(s.Terminated.Message)
		}
	case s.Running != nil:
		l.Ran = true
		l.Reason = ReasonRunning
	case s.Waiting != nil:
		// PodInitializing and ContainerCreating of a container whose turn
		// has not come say nothing about it.
		switch s.Waiting.Reason {
		case "", "PodInitializing":
		default:
			l.Reason = s.Waiting.Reason
			l.Detail = Fold(s.Waiting.Message)
		}
	}
	return l
}

// statusOf finds container name's status in pod (nil when unknown).
func statusOf(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	if pod == nil {
		return nil
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// Fold folds whitespace and bounds s, for a detail that fits one line.
func Fold(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxDetail {
		return s
	}
	s = s[:maxDetail]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// describe lines up the Job's tasks with pod's container statuses. The
// fetcher gets a line only when it did not complete.
func describe(job *batchv1.Job, pod *corev1.Pod) []Line {
	var lines []Line
	inits := job.Spec.Template.Spec.InitContainers
	if len(inits) > 0 && inits[0].Name == jobs.FetcherContainer {
		if l := lineOf("", jobs.FetcherContainer, false, statusOf(pod, jobs.FetcherContainer)); !l.completed() && (l.Ran || l.Reason != ReasonNotRun) {
			lines = append(lines, l)
		}
	}
	for _, t := range taskRefs(job) {
		lines = append(lines, lineOf(t.Name, t.Container, t.OnError == "warn", statusOf(pod, t.Container)))
	}
	return lines
}

// taskRefs reads the tasks annotation. A Job without a readable one (made
// by hand, or by an older version) still gets lines: one per container,
// named after it.
func taskRefs(job *batchv1.Job) []jobs.TaskRef {
	var refs []jobs.TaskRef
	if err := json.Unmarshal([]byte(job.Annotations[jobs.AnnotationTasks]), &refs); err == nil && len(refs) > 0 {
		return refs
	}
	spec := job.Spec.Template.Spec
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		if c.Name != jobs.FetcherContainer {
			refs = append(refs, jobs.TaskRef{Name: c.Name, Container: c.Name})
		}
	}
	return refs
}

// culprit is the first line whose container exited non-zero, or -1.
func culprit(lines []Line) int {
	return slices.IndexFunc(lines, Line.failed)
}

// firstUnfinished is the first line whose container did not exit 0, or -1.
func firstUnfinished(lines []Line) int {
	return slices.IndexFunc(lines, func(l Line) bool { return !l.completed() })
}

// owned drops pods that carry the Job's name but belong to an earlier Job
// of that name.
func owned(job *batchv1.Job, pods []corev1.Pod) []corev1.Pod {
	if job.UID == "" {
		return pods
	}
	var out []corev1.Pod
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID != job.UID {
			continue
		}
		out = append(out, p)
	}
	return out
}

// pickPod is the newest pod in phase prefer, else the newest pod. A Job
// with backoffLimit 0 has one pod, but a pod lost with its node is replaced.
func pickPod(pods []corev1.Pod, prefer corev1.PodPhase) *corev1.Pod {
	var best, newest *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if newest == nil || newest.CreationTimestamp.Before(&p.CreationTimestamp) {
			newest = p
		}
		if prefer != "" && p.Status.Phase == prefer && (best == nil || best.CreationTimestamp.Before(&p.CreationTimestamp)) {
			best = p
		}
	}
	if best != nil {
		return best
	}
	return newest
}
