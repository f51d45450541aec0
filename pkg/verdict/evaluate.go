package verdict

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// DefaultUnschedulableTimeout is how long a pod may wait for a node before
// its Job is failed and stopped.
const DefaultUnschedulableTimeout = 5 * time.Minute

// failFastReasons are waiting reasons of a container that will not start
// until someone changes the config, a Secret or the registry: waiting for the
// deadline only delays the report (job-executor-service #254).
var failFastReasons = map[string]bool{
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
}

// EvalOptions tune Evaluate.
type EvalOptions struct {
	// UnschedulableTimeout bounds how long a pod may stay unschedulable;
	// 0 means DefaultUnschedulableTimeout.
	UnschedulableTimeout time.Duration
}

func (o EvalOptions) unschedulableTimeout() time.Duration {
	if o.UnschedulableTimeout > 0 {
		return o.UnschedulableTimeout
	}
	return DefaultUnschedulableTimeout
}

// Verdict is what a Job's state means for its report.
type Verdict struct {
	// Terminal is true when .finished is due now.
	Terminal bool
	// Stop, when set, is why the Job must be stopped before it is reported
	// (fail fast); the Job itself is still running.
	Stop string
	// Summary is the first line of the message.
	Summary string
	// Finished is the report, its message without logs (see Compose).
	Finished keptn.Finished
	// Lines are the task lines of the message.
	Lines []Line
	// Pod is the pod the lines describe and the logs come from.
	Pod string
	// End is when the Job ended, or was found unable to run.
	End time.Time
	// Early: the Job's pod has ended and decides (DecidedByPod), but the
	// Job controller has not written the condition yet. Whoever reports it
	// removes the Job's deadline in the write that claims the report.
	Early bool
}

// LogLines are the lines whose container logs belong in the message: every
// container that started (a failed fetcher is among the lines, a successful
// one is not).
func (v Verdict) LogLines() []Line {
	var out []Line
	for _, l := range v.Lines {
		if l.Ran {
			out = append(out, l)
		}
	}
	return out
}

// Evaluate decides from a Job and its pods whether the Job's .finished is
// due, and with what. It is pure: now is the only clock.
func Evaluate(job *batchv1.Job, pods []corev1.Pod, now time.Time, opts EvalOptions) Verdict {
	if msg := job.Annotations[jobs.AnnotationInvalid]; msg != "" {
		v := Verdict{Terminal: true, End: job.CreationTimestamp.Time, Summary: msg}
		v.Finished = keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail}
		return conclude(job, v, nil)
	}
	pods = owned(job, pods)
	var v Verdict
	var pod *corev1.Pod
	switch cond := terminalCondition(job); {
	case job.Annotations[jobs.AnnotationStopped] != "":
		pod = pickPod(pods, "")
		v = stopped(job, pod)
	case cond != nil && (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobSuccessCriteriaMet):
		pod = pickPod(pods, corev1.PodSucceeded)
		v = succeeded(job, pod, cond)
	case cond != nil && cond.Reason == batchv1.JobReasonDeadlineExceeded:
		pod = pickPod(pods, "")
		v = deadlineExceeded(job, pod, cond)
	case cond != nil:
		pod = pickPod(pods, corev1.PodFailed)
		v = failed(job, pod, cond)
	default:
		var ok bool
		if v, pod, ok = early(job, pods, now); ok {
			break
		}
		if v, pod, ok = failFast(job, pods, now, opts); !ok {
			return Verdict{}
		}
	}
	v.Terminal = true
	if pod != nil {
		v.Pod = pod.Name
	}
	return conclude(job, v, pod)
}

// Deleted is the verdict for a Job deleted before it was reported: its
// real outcome when it had ended, else an error that says so.
func Deleted(job *batchv1.Job, pods []corev1.Pod, now time.Time, opts EvalOptions) Verdict {
	if v := Evaluate(job, pods, now, opts); v.Terminal {
		// A Job found unable to run needs no stopping any more.
		v.Stop = ""
		return v
	}
	pod := pickPod(owned(job, pods), "")
	lines := describe(job, pod)
	i := firstUnfinished(lines)
	if i >= 0 {
		lines[i].Reason, lines[i].Detail = ReasonDeleted, "was "+lines[i].Reason
	}
	v := Verdict{Terminal: true, Lines: lines, End: now}
	v.Finished = keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail}
	v.Summary = fmt.Sprintf("Job %s was deleted before it finished.", job.Name)
	if pod != nil {
		v.Pod = pod.Name
	}
	return conclude(job, v, pod)
}

// terminalCondition is the Job's true Complete/Failed condition or their
// forerunners (SuccessCriteriaMet, FailureTarget), which the Job controller
// sets as soon as the outcome is decided, before the pods are gone.
func terminalCondition(job *batchv1.Job) *batchv1.JobCondition {
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget, batchv1.JobSuccessCriteriaMet} {
		for i := range job.Status.Conditions {
			c := &job.Status.Conditions[i]
			if c.Type == t && c.Status == corev1.ConditionTrue {
				return c
			}
		}
	}
	return nil
}

func succeeded(job *batchv1.Job, pod *corev1.Pod, cond *batchv1.JobCondition) Verdict {
	lines := describe(job, pod)
	if pod == nil {
		// The Job says every container exited 0; only the pod is gone.
		for i := range lines {
			lines[i].Reason = ReasonCompleted
		}
	}
	end := cond.LastTransitionTime.Time
	if job.Status.CompletionTime != nil {
		end = job.Status.CompletionTime.Time
	}
	v := Verdict{Lines: lines, End: end}
	v.Finished = keptn.Finished{Status: keptn.StatusSucceeded, Result: keptn.ResultPass}
	v.Summary = fmt.Sprintf("Job %s succeeded.", job.Name)
	return v
}

func failed(job *batchv1.Job, pod *corev1.Pod, cond *batchv1.JobCondition) Verdict {
	lines := describe(job, pod)
	v := Verdict{Lines: lines, End: cond.LastTransitionTime.Time}
	v.Finished = keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail}
	switch i := culprit(lines); {
	case pod != nil && pod.Status.Reason != "":
		// Evicted, UnexpectedAdmissionError, ...: the pod was ended from
		// outside, whatever exit codes its killed containers show.
		what := "the pod"
		if j := firstUnfinished(lines); j >= 0 {
			lines[j].Reason, lines[j].Detail = pod.Status.Reason, Fold(pod.Status.Message)
			what = lines[j].Name()
		}
		v.Summary = fmt.Sprintf("Job %s failed: %s did not finish: %s: %s", job.Name, what, pod.Status.Reason, Fold(pod.Status.Message))
	case i >= 0:
		l := lines[i]
		v.Summary = fmt.Sprintf("Job %s failed: %s failed with exit code %d (%s).", job.Name, l.Name(), *l.ExitCode, l.Reason)
		if l.Detail != "" {
			v.Summary = strings.TrimSuffix(v.Summary, ".") + ": " + l.Detail
		}
		if l.Warn {
			v.Finished.Status, v.Finished.Result = keptn.StatusSucceeded, keptn.ResultWarning
			v.Summary += " The task's onError is warn."
		}
	default:
		v.Summary = fmt.Sprintf("Job %s failed: %s: %s", job.Name, cond.Reason, Fold(cond.Message))
	}
	return v
}

func deadlineExceeded(job *batchv1.Job, pod *corev1.Pod, cond *batchv1.JobCondition) Verdict {
	lines := describe(job, pod)
	v := Verdict{Lines: lines, End: cond.LastTransitionTime.Time}
	v.Finished = keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail}
	limit := "its deadline"
	if d := job.Spec.ActiveDeadlineSeconds; d != nil {
		limit = fmt.Sprintf("its deadline of %s", time.Duration(*d)*time.Second)
	}
	i := firstUnfinished(lines)
	if pod == nil && len(lines) == 1 {
		// The Job controller deletes the pod at the deadline, often before
		// we read it; with one task there is no doubt which one ran.
		i = 0
		lines[0].Ran = true
	}
	if i < 0 || pod == nil && len(lines) > 1 {
		for j := range lines {
			if !lines[j].completed() {
				lines[j].Reason = ReasonUnknown
			}
		}
		v.Summary = fmt.Sprintf("Job %s exceeded %s (DeadlineExceeded); its pod is gone, so which task was running is unknown.", job.Name, limit)
		return v
	}
	l := &lines[i]
	was := l.Reason
	if l.Detail != "" {
		was += ": " + l.Detail
	}
	l.Reason, l.Detail = ReasonDeadlineExceeded, ""
	if !l.Ran {
		l.Detail = "was waiting: " + was
	}
	v.Summary = fmt.Sprintf("Job %s exceeded %s (DeadlineExceeded) while %s was running.", job.Name, limit, l.Name())
	if l.Warn && l.Ran {
		v.Finished.Status, v.Finished.Result = keptn.StatusSucceeded, keptn.ResultWarning
		v.Summary += " The task's onError is warn."
	}
	return v
}

// conclude adds what every verdict carries besides its lines: the
// structured results of the tasks, the data.test times of a test task, and
// the lines in the message.
func conclude(job *batchv1.Job, v Verdict, pod *corev1.Pod) Verdict {
	extra := map[string]any{}
	var notes []string
	for _, t := range taskRefs(job) {
		st := statusOf(pod, t.Container)
		if st == nil || st.State.Terminated == nil {
			continue
		}
		obj, result, ok := ParseResult(st.State.Terminated.Message)
		if !ok {
			continue
		}
		if keptn.EventDataKeys[t.Name] {
			notes = append(notes, fmt.Sprintf("The structured result of task %q is not in the data: %q is a key Keptn reserves.", t.Name, t.Name))
			continue
		}
		extra[t.Name] = obj
		if result != "" && v.Finished.Status == keptn.StatusSucceeded {
			v.Finished.Result = worse(v.Finished.Result, result)
		}
	}
	if o, err := jobs.OriginOf(job); err == nil && o.Task == "test" {
		test, _ := extra["test"].(map[string]any)
		if test == nil {
			test = map[string]any{}
		}
		start := job.CreationTimestamp.Time
		if job.Status.StartTime != nil {
			start = job.Status.StartTime.Time
		}
		test["start"] = start.UTC().Format(time.RFC3339)
		test["end"] = v.End.UTC().Format(time.RFC3339)
		if o.GitCommitID != "" {
			test["gitCommit"] = o.GitCommitID
		}
		extra["test"] = test
	}
	if len(extra) > 0 {
		v.Finished.Extra = extra
	}
	v.Finished.Message = headline(v.Summary, v.Lines, notes)
	return v
}

// headline is the message before the logs: the summary, one line per task,
// then notes.
func headline(summary string, lines []Line, notes []string) string {
	var b strings.Builder
	b.WriteString(summary)
	for _, l := range lines {
		b.WriteString("\n")
		b.WriteString(l.String())
	}
	for _, n := range notes {
		b.WriteString("\n")
		b.WriteString(n)
	}
	return b.String()
}
