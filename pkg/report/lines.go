package report

import (
	"fmt"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
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
			l.Detail = oneLine(s.Terminated.Message)
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
			l.Detail = oneLine(s.Waiting.Message)
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

// oneLine folds whitespace and bounds s, for a detail that fits one line.
func oneLine(s string) string {
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
