package verdict

import (
	"encoding/json"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// failFast finds a pod of a running Job that can never run.
func failFast(job *batchv1.Job, pods []corev1.Pod, now time.Time, opts EvalOptions) (Verdict, *corev1.Pod, bool) {
	for i := range pods {
		pod := &pods[i]
		reason, detail, container, ok := stuck(pod, now, opts)
		if !ok {
			continue
		}
		lines := describe(job, pod)
		var what string
		for j := range lines {
			if container == "" || lines[j].Container == container {
				lines[j].Reason, lines[j].Detail, what = reason, detail, lines[j].Name()
				break
			}
		}
		v := Verdict{Stop: reason, Lines: lines, End: now}
		v.Finished = keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail}
		if reason == ReasonUnschedulable {
			v.Summary = fmt.Sprintf("Job %s failed: its pod could not be scheduled for %s: %s. The Job was stopped.", job.Name, opts.unschedulableTimeout(), detail)
		} else {
			v.Summary = fmt.Sprintf("Job %s failed: %s cannot start: %s: %s. The Job was stopped.", job.Name, what, reason, detail)
		}
		return v, pod, true
	}
	return Verdict{}, nil, false
}

// stuck reports why pod can never run, if it cannot: a container waiting
// for something only a person can fix, or no node for too long. container is
// empty when the whole pod is stuck.
func stuck(pod *corev1.Pod, now time.Time, opts EvalOptions) (reason, detail, container string, ok bool) {
	if pod.DeletionTimestamp != nil || (pod.Status.Phase != corev1.PodPending && pod.Status.Phase != corev1.PodRunning && pod.Status.Phase != "") {
		return "", "", "", false
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, st := range list {
			if w := st.State.Waiting; w != nil && failFastReasons[w.Reason] {
				return w.Reason, Fold(w.Message), st.Name, true
			}
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable {
			continue
		}
		since := c.LastTransitionTime.Time
		if since.IsZero() {
			since = pod.CreationTimestamp.Time
		}
		if now.Sub(since) >= opts.unschedulableTimeout() {
			return ReasonUnschedulable, Fold(c.Message), "", true
		}
	}
	return "", "", "", false
}

// stopRecord is the value of jobs.AnnotationStopped.
type stopRecord struct {
	Time    time.Time `json:"time"`
	Reason  string    `json:"reason"`
	Summary string    `json:"summary"`
	Pod     string    `json:"pod,omitempty"`
	Lines   []Line    `json:"lines"`
}

// StopAnnotation is the value that records v's stop on the Job.
func (v Verdict) StopAnnotation() (string, error) {
	b, err := json.Marshal(stopRecord{Time: v.End.UTC(), Reason: v.Stop, Summary: v.Summary, Pod: v.Pod, Lines: v.Lines})
	if err != nil {
		return "", fmt.Errorf("encoding stop record: %w", err)
	}
	return string(b), nil
}

// stopped is the verdict recorded when the Job was stopped: its pods are
// being killed by then, so their state is no longer the reason.
func stopped(job *batchv1.Job, pod *corev1.Pod) Verdict {
	raw := job.Annotations[jobs.AnnotationStopped]
	v := Verdict{Finished: keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail}}
	var rec stopRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil || rec.Summary == "" {
		v.Lines = describe(job, pod)
		v.End = job.CreationTimestamp.Time
		v.Summary = fmt.Sprintf("Job %s was stopped: %s", job.Name, Fold(raw))
		return v
	}
	v.Lines, v.End, v.Summary = rec.Lines, rec.Time, rec.Summary
	if pod != nil && rec.Pod != "" && pod.Name != rec.Pod {
		// Logs come from the recorded pod only.
		for i := range v.Lines {
			v.Lines[i].Ran = false
		}
	}
	return v
}

// Stuck reports whether pod can never run without a person's help, the
// signal to evaluate its Job now rather than wait for the Job controller.
func Stuck(pod *corev1.Pod, now time.Time, opts EvalOptions) bool {
	_, _, _, ok := stuck(pod, now, opts)
	return ok
}
