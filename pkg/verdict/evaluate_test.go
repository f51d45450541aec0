package verdict

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

func TestEvaluate(t *testing.T) {
	end := verdicttest.T0.Add(time.Minute)
	now := verdicttest.T0.Add(2 * time.Minute)
	tests := []struct {
		name     string
		job      *batchv1.Job
		pods     []corev1.Pod
		now      time.Time
		terminal bool
		stop     string
		status   string
		result   string
		// lines are the task lines, in order, as the message shows them.
		lines []string
		// contains are substrings of the message.
		contains []string
		absent   []string
		logs     []string // containers whose logs are wanted
		check    func(t *testing.T, v Verdict)
	}{
		{
			name:     "success",
			job:      verdicttest.NewJob(verdicttest.Complete(end)),
			pods:     []corev1.Pod{verdicttest.SucceededPod()},
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultPass,
			lines: []string{
				`task "greet" [task-0-greet]: exit code 0, Completed`,
				`task "post" [task-1-post]: exit code 0, Completed`,
			},
			contains: []string{"Job " + verdicttest.JobName + " succeeded."},
			absent:   []string{"file fetcher"},
			logs:     []string{verdicttest.C0, verdicttest.C1},
		},
		{
			name:     "success reported at SuccessCriteriaMet, before Complete",
			job:      verdicttest.NewJob(verdicttest.WithCondition(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "", end)),
			pods:     []corev1.Pod{verdicttest.SucceededPod()},
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultPass,
		},
		{
			name:     "success whose pod is gone",
			job:      verdicttest.NewJob(verdicttest.Complete(end)),
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultPass,
			lines: []string{`task "greet" [task-0-greet]: Completed`, `task "post" [task-1-post]: Completed`},
		},
		{
			name: "exit code 3",
			job:  verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonBackoffLimitExceeded, end)),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer),
				verdicttest.Terminated(verdicttest.C0, 3, "Error", "last lines of the log"), verdicttest.Waiting(verdicttest.C1, "PodInitializing", ""))},
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`task "greet" [task-0-greet]: exit code 3, Error`,
				`task "post" [task-1-post]: not run`,
			},
			contains: []string{`Job ` + verdicttest.JobName + ` failed: task "greet" failed with exit code 3 (Error).`},
			absent:   []string{"last lines of the log"},
			logs:     []string{verdicttest.C0},
		},
		{
			name: "deadline exceeded names the running task",
			job:  verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonDeadlineExceeded, end)),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0),
				verdicttest.Terminated(verdicttest.C1, 143, "Error", ""))},
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`task "greet" [task-0-greet]: exit code 0, Completed`,
				`task "post" [task-1-post]: exit code 143, DeadlineExceeded`,
			},
			contains: []string{`exceeded its deadline of 5m0s (DeadlineExceeded) while task "post" was running.`},
			logs:     []string{verdicttest.C0, verdicttest.C1},
		},
		{
			name:     "deadline exceeded reported at FailureTarget, while the pod still runs",
			job:      verdicttest.NewJob(verdicttest.WithCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "", end)),
			pods:     []corev1.Pod{verdicttest.NewPod(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0))},
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`task "greet" [task-0-greet]: DeadlineExceeded`,
				`task "post" [task-1-post]: not run`,
			},
		},
		{
			name:     "deadline exceeded with the pod gone",
			job:      verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonDeadlineExceeded, end)),
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			contains: []string{"its pod is gone, so which task was running is unknown"},
			lines:    []string{`task "greet" [task-0-greet]: unknown`, `task "post" [task-1-post]: unknown`},
		},
		{
			name: "image pull back-off fails fast",
			job:  verdicttest.NewJob(),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer),
				verdicttest.Waiting(verdicttest.C0, "ImagePullBackOff", `Back-off pulling image "ghcr.io/nope:1"`))},
			terminal: true, stop: "ImagePullBackOff", status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`task "greet" [task-0-greet]: ImagePullBackOff: Back-off pulling image "ghcr.io/nope:1"`,
				`task "post" [task-1-post]: not run`,
			},
			contains: []string{`task "greet" cannot start: ImagePullBackOff`, "The Job was stopped."},
		},
		{
			name: "a first ErrImagePull is retried by the kubelet",
			job:  verdicttest.NewJob(),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer),
				verdicttest.Waiting(verdicttest.C0, "ErrImagePull", "rpc error: 503"))},
		},
		{
			name: "invalid image name fails fast in the main container",
			job:  verdicttest.NewJob(),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0),
				verdicttest.Waiting(verdicttest.C1, "InvalidImageName", `couldn't parse image name "UPPER:case"`))},
			terminal: true, stop: "InvalidImageName", status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`task "greet" [task-0-greet]: exit code 0, Completed`,
				`task "post" [task-1-post]: InvalidImageName: couldn't parse image name "UPPER:case"`,
			},
			logs: []string{verdicttest.C0},
		},
		{
			name: "config error fails fast",
			job:  verdicttest.NewJob(),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer),
				verdicttest.Waiting(verdicttest.C0, "CreateContainerConfigError", `secret "db-creds" not found`))},
			terminal: true, stop: "CreateContainerConfigError", status: keptn.StatusErrored, result: keptn.ResultFail,
			contains: []string{`task "greet" cannot start: CreateContainerConfigError: secret "db-creds" not found`},
		},
		{
			name: "the fetcher's image cannot be pulled",
			job:  verdicttest.NewJob(),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodPending),
				verdicttest.Waiting(jobs.FetcherContainer, "ErrImageNeverPull", "image not present with pull policy Never"))},
			terminal: true, stop: "ErrImageNeverPull", status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`file fetcher [fetch-files]: ErrImageNeverPull: image not present with pull policy Never`,
				`task "greet" [task-0-greet]: not run`,
				`task "post" [task-1-post]: not run`,
			},
			contains: []string{"file fetcher cannot start"},
		},
		{
			name: "unschedulable within the bound keeps waiting",
			job:  verdicttest.NewJob(),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Unschedulable(verdicttest.T0, "0/3 nodes are available: 3 Insufficient cpu."))},
			now:  verdicttest.T0.Add(4 * time.Minute),
		},
		{
			name:     "unschedulable beyond the bound fails fast",
			job:      verdicttest.NewJob(),
			pods:     []corev1.Pod{verdicttest.NewPod(verdicttest.Unschedulable(verdicttest.T0, "0/3 nodes are available: 3 Insufficient cpu."))},
			now:      verdicttest.T0.Add(5 * time.Minute),
			terminal: true, stop: ReasonUnschedulable, status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`task "greet" [task-0-greet]: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.`,
				`task "post" [task-1-post]: not run`,
			},
			contains: []string{"its pod could not be scheduled for 5m0s"},
		},
		{
			name: "OOMKilled",
			job:  verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonBackoffLimitExceeded, end)),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0),
				verdicttest.Terminated(verdicttest.C1, 137, "OOMKilled", ""))},
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			lines:    []string{`task "greet" [task-0-greet]: exit code 0, Completed`, `task "post" [task-1-post]: exit code 137, OOMKilled`},
			contains: []string{`task "post" failed with exit code 137 (OOMKilled)`},
		},
		{
			name: "evicted",
			job:  verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonBackoffLimitExceeded, end)),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.PodReason("Evicted", "The node was low on resource: memory."),
				verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.Terminated(verdicttest.C1, 137, "ContainerStatusUnknown", ""))},
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`task "greet" [task-0-greet]: exit code 0, Completed`,
				`task "post" [task-1-post]: exit code 137, Evicted: The node was low on resource: memory.`,
			},
			contains: []string{`task "post" did not finish: Evicted: The node was low on resource: memory.`},
		},
		{
			name: "onError warn",
			job: verdicttest.NewJob(verdicttest.WithTasks(jobs.TaskRef{Name: "greet", Container: verdicttest.C0, OnError: "warn"}, jobs.TaskRef{Name: "post", Container: verdicttest.C1}),
				verdicttest.FailedWith(batchv1.JobReasonBackoffLimitExceeded, end)),
			pods:     []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 1, "Error", ""))},
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultWarning,
			contains: []string{"The task's onError is warn."},
		},
		{
			name: "the fetcher failed",
			job:  verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonBackoffLimitExceeded, end)),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed),
				verdicttest.Terminated(jobs.FetcherContainer, 3, "Error", "initcontainer: job/locustfile.py: not found at service, stage or project level\n"))},
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			lines: []string{
				`file fetcher [fetch-files]: exit code 3, Error: initcontainer: job/locustfile.py: not found at service, stage or project level`,
				`task "greet" [task-0-greet]: not run`,
				`task "post" [task-1-post]: not run`,
			},
			contains: []string{"failed: file fetcher failed with exit code 3 (Error): initcontainer: job/locustfile.py"},
			logs:     []string{jobs.FetcherContainer},
		},
		{
			name:     "structured result",
			job:      verdicttest.NewJob(verdicttest.Complete(end)),
			pods:     []corev1.Pod{verdicttest.SucceededPod(verdicttest.Terminated(verdicttest.C1, 0, "Completed", `{"result":"warning","sli":{"p95":0.1}}`))},
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultWarning,
			check: func(t *testing.T, v Verdict) {
				b, err := json.Marshal(v.Finished.Extra)
				require.NoError(t, err)
				assert.JSONEq(t, `{"post":{"result":"warning","sli":{"p95":0.1}}}`, string(b))
			},
		},
		{
			name:     "a structured fail of a task that exited 0 fails the result, not the status",
			job:      verdicttest.NewJob(verdicttest.Complete(end)),
			pods:     []corev1.Pod{verdicttest.SucceededPod(verdicttest.Terminated(verdicttest.C0, 0, "Completed", `{"result":"FAIL"}`), verdicttest.Terminated(verdicttest.C1, 0, "Completed", `{"result":"warning"}`))},
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultFail,
		},
		{
			name: "a log tail left by FallbackToLogsOnError is not a result",
			job:  verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonBackoffLimitExceeded, end)),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer),
				verdicttest.Terminated(verdicttest.C0, 1, "Error", "Traceback (most recent call last):\n  boom"))},
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			check: func(t *testing.T, v Verdict) { assert.Empty(t, v.Finished.Extra) },
		},
		{
			name: "a task named like a reserved key keeps its result out of the data",
			job: verdicttest.NewJob(verdicttest.WithTasks(jobs.TaskRef{Name: "message", Container: verdicttest.C0}, jobs.TaskRef{Name: "post", Container: verdicttest.C1}),
				verdicttest.Complete(end)),
			pods:     []corev1.Pod{verdicttest.SucceededPod(verdicttest.Terminated(verdicttest.C0, 0, "Completed", `{"result":"fail"}`))},
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultPass,
			contains: []string{`The structured result of task "message" is not in the data`},
			check:    func(t *testing.T, v Verdict) { assert.Empty(t, v.Finished.Extra) },
		},
		{
			name:     "test task gets data.test start and end",
			job:      verdicttest.NewJob(verdicttest.WithOriginTask("test"), verdicttest.Complete(end)),
			pods:     []corev1.Pod{verdicttest.SucceededPod(verdicttest.Terminated(verdicttest.C1, 0, "Completed", `{"sli":1}`))},
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultPass,
			check: func(t *testing.T, v Verdict) {
				b, err := json.Marshal(v.Finished.Extra)
				require.NoError(t, err)
				assert.JSONEq(t, `{"test":{"start":"2026-11-27T09:00:01Z","end":"2026-11-27T09:01:00Z","gitCommit":"abc123"},"post":{"sli":1}}`, string(b))
			},
		},
		{
			name: "running",
			job:  verdicttest.NewJob(),
			pods: []corev1.Pod{verdicttest.NewPod(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0))},
		},
		{
			name: "no pod yet",
			job:  verdicttest.NewJob(),
		},
		{
			name: "record job of an invalid config",
			job: verdicttest.NewJob(verdicttest.WithoutAnnotation(jobs.AnnotationTasks),
				verdicttest.WithAnnotation(jobs.AnnotationInvalid, "invalid job config:\njob/config.yaml:3:5: actions[0].tasks: required")),
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			check: func(t *testing.T, v Verdict) {
				assert.Equal(t, "invalid job config:\njob/config.yaml:3:5: actions[0].tasks: required", v.Finished.Message)
			},
		},
		{
			name: "a stopped job reports why it was stopped, not the deadline the stop caused",
			job: verdicttest.NewJob(verdicttest.FailedWith(batchv1.JobReasonDeadlineExceeded, end), verdicttest.WithAnnotation(jobs.AnnotationStopped,
				`{"time":"2026-11-27T09:00:30Z","reason":"ImagePullBackOff","summary":"Job x failed: task \"greet\" cannot start: ImagePullBackOff: nope. The Job was stopped.","pod":"`+verdicttest.PodName+`","lines":[{"task":"greet","container":"task-0-greet","reason":"ImagePullBackOff","detail":"nope"}]}`)),
			pods:     []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 137, "Error", ""))},
			terminal: true, status: keptn.StatusErrored, result: keptn.ResultFail,
			lines:    []string{`task "greet" [task-0-greet]: ImagePullBackOff: nope`},
			contains: []string{`cannot start: ImagePullBackOff: nope. The Job was stopped.`},
			absent:   []string{"deadline"},
		},
		{
			name:     "a job without a tasks annotation gets a line per container",
			job:      verdicttest.NewJob(verdicttest.WithoutAnnotation(jobs.AnnotationTasks), verdicttest.WithoutFetcher(), verdicttest.Complete(end)),
			pods:     []corev1.Pod{verdicttest.SucceededPod()},
			terminal: true, status: keptn.StatusSucceeded, result: keptn.ResultPass,
			lines: []string{`task "task-0-greet" [task-0-greet]: exit code 0, Completed`, `task "task-1-post" [task-1-post]: exit code 0, Completed`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			if !tt.now.IsZero() {
				at = tt.now
			}
			v := Evaluate(tt.job, tt.pods, at, EvalOptions{})
			require.Equal(t, tt.terminal, v.Terminal, "terminal; message %q", v.Finished.Message)
			assert.Equal(t, tt.stop, v.Stop, "stop")
			if !tt.terminal {
				return
			}
			assert.Equal(t, tt.status, v.Finished.Status, "status")
			assert.Equal(t, tt.result, v.Finished.Result, "result")
			if tt.lines != nil {
				var got []string
				for _, l := range v.Lines {
					got = append(got, l.String())
				}
				assert.Equal(t, tt.lines, got)
				for _, l := range tt.lines {
					assert.Contains(t, v.Finished.Message, "\n"+l, "the message shows every line")
				}
			}
			for _, s := range tt.contains {
				assert.Contains(t, v.Finished.Message, s)
			}
			for _, s := range tt.absent {
				assert.NotContains(t, v.Finished.Message, s)
			}
			if tt.logs != nil {
				var got []string
				for _, l := range v.LogLines() {
					got = append(got, l.Container)
				}
				assert.Equal(t, tt.logs, got, "containers whose logs are wanted")
			}
			if tt.check != nil {
				tt.check(t, v)
			}
		})
	}
}

func TestEvaluateUnschedulableBoundIsAnOption(t *testing.T) {
	job := verdicttest.NewJob()
	pods := []corev1.Pod{verdicttest.NewPod(verdicttest.Unschedulable(verdicttest.T0, "no nodes"))}
	assert.False(t, Evaluate(job, pods, verdicttest.T0.Add(time.Minute), EvalOptions{UnschedulableTimeout: 2 * time.Minute}).Terminal)
	assert.Equal(t, ReasonUnschedulable, Evaluate(job, pods, verdicttest.T0.Add(2*time.Minute), EvalOptions{UnschedulableTimeout: 2 * time.Minute}).Stop)
}

func TestEvaluateIgnoresPodsOfAnEarlierJobOfTheSameName(t *testing.T) {
	job := verdicttest.NewJob(verdicttest.Complete(verdicttest.T0.Add(time.Minute)))
	job.UID = "new"
	stale := verdicttest.NewPod(verdicttest.Phase(corev1.PodPending), verdicttest.Waiting(verdicttest.C0, "ImagePullBackOff", "old"))
	stale.OwnerReferences = []metav1.OwnerReference{{UID: "old", Controller: ptr.To(true)}}
	v := Evaluate(job, []corev1.Pod{stale}, verdicttest.T0.Add(2*time.Minute), EvalOptions{})
	assert.Equal(t, keptn.ResultPass, v.Finished.Result)
	assert.Empty(t, v.Pod)
}

func TestStopAnnotationRoundTrip(t *testing.T) {
	job := verdicttest.NewJob()
	pods := []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer), verdicttest.Waiting(verdicttest.C0, "ImagePullBackOff", "nope"))}
	v := Evaluate(job, pods, verdicttest.T0.Add(time.Minute), EvalOptions{})
	require.Equal(t, "ImagePullBackOff", v.Stop)
	rec, err := v.StopAnnotation()
	require.NoError(t, err)

	// After the stop the pod is killed and the Job fails on its deadline.
	job = verdicttest.NewJob(verdicttest.WithAnnotation(jobs.AnnotationStopped, rec), verdicttest.FailedWith(batchv1.JobReasonDeadlineExceeded, verdicttest.T0.Add(2*time.Minute)))
	again := Evaluate(job, []corev1.Pod{verdicttest.NewPod(verdicttest.Phase(corev1.PodFailed), verdicttest.OK(jobs.FetcherContainer), verdicttest.Terminated(verdicttest.C0, 137, "Error", ""))}, verdicttest.T0.Add(3*time.Minute), EvalOptions{})
	assert.True(t, again.Terminal)
	assert.Empty(t, again.Stop, "already stopped")
	assert.Equal(t, v.Finished, again.Finished, "a retry reports exactly what the first attempt would have")
}

func TestDeleted(t *testing.T) {
	running := []corev1.Pod{verdicttest.NewPod(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0))}
	v := Deleted(verdicttest.NewJob(), running, verdicttest.T0.Add(time.Minute), EvalOptions{})
	assert.True(t, v.Terminal)
	assert.Equal(t, keptn.StatusErrored, v.Finished.Status)
	assert.Contains(t, v.Finished.Message, "was deleted before it finished")
	assert.Contains(t, v.Finished.Message, `task "greet" [task-0-greet]: Deleted: was Running`)

	done := Deleted(verdicttest.NewJob(verdicttest.Complete(verdicttest.T0.Add(time.Minute))), []corev1.Pod{verdicttest.SucceededPod()}, verdicttest.T0.Add(2*time.Minute), EvalOptions{})
	assert.Equal(t, keptn.ResultPass, done.Finished.Result, "a Job that ended reports its real outcome")
}
