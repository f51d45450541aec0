package e2e

import (
	"net"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

func TestJobCompletesOnKwokNode(t *testing.T) {
	bed := testbed.Get(t)
	ns := bed.Namespace(t)
	ctx := testContext(t)
	c := bed.Client()

	createJob(t, ctx, c, ns, newJob("hello", nil, nil, container{"task", "alpine:3.20"}))
	job := waitJobCondition(t, ctx, c, ns, "hello", batchv1.JobComplete)
	if job.Status.Succeeded != 1 {
		t.Errorf("succeeded = %d, want 1", job.Status.Succeeded)
	}
	pod := jobPod(t, ctx, c, ns, "hello", podPhase(corev1.PodSucceeded))
	if pod.Spec.NodeName != testbed.NodeName {
		t.Errorf("pod ran on %q, want the kwok node %q", pod.Spec.NodeName, testbed.NodeName)
	}
	_, cidr, _ := net.ParseCIDR(testbed.PodCIDR)
	if ip := net.ParseIP(pod.Status.PodIP); ip == nil || !cidr.Contains(ip) || !ip.IsLoopback() {
		t.Errorf("pod IP %q is not a loopback address in %s", pod.Status.PodIP, testbed.PodCIDR)
	}
	if s := containerStatus(t, pod, "task"); s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
		t.Errorf("task state = %+v, want terminated with exit code 0", s.State)
	}
}

func TestJobFailsWithChosenExitCodeAndLogs(t *testing.T) {
	bed := testbed.Get(t)
	ns := bed.Namespace(t)
	ctx := testContext(t)
	c := bed.Client()
	const logText = "fetching resources\ntask failed: exit 3\n"
	testbed.SetLogs(t, ns, "task", logText)

	createJob(t, ctx, c, ns, newJob("fails", nil, nil, container{"task", testbed.ImageExit(3)}))
	job := waitJobCondition(t, ctx, c, ns, "fails", batchv1.JobFailed)
	cond, err := jobCondition(job, batchv1.JobFailed)
	if err != nil || cond.Reason != "BackoffLimitExceeded" {
		t.Errorf("Failed condition = %+v (%v), want reason BackoffLimitExceeded", cond, err)
	}
	pod := jobPod(t, ctx, c, ns, "fails", podPhase(corev1.PodFailed))
	s := containerStatus(t, pod, "task")
	if s.State.Terminated == nil || s.State.Terminated.ExitCode != 3 || s.State.Terminated.Reason != "Error" {
		t.Fatalf("task state = %+v, want terminated with exit code 3, reason Error", s.State)
	}
	if got := podLogs(t, ctx, c, ns, pod.Name, "task"); got != logText {
		t.Errorf("pods/log = %q, want %q", got, logText)
	}
}

// Our Jobs run a file fetcher and the tasks as init containers, the last
// task as the main container: a failing init container must end the pod
// there.
func TestInitContainersRunInOrderAndStopAtFailure(t *testing.T) {
	bed := testbed.Get(t)
	c := bed.Client()
	tests := []struct {
		name      string
		b         string
		wantJob   batchv1.JobConditionType
		wantPhase corev1.PodPhase
		wantBExit int32
		mainRuns  bool
	}{
		{name: "b fails", b: testbed.ImageExit(7), wantJob: batchv1.JobFailed, wantPhase: corev1.PodFailed, wantBExit: 7},
		{name: "b succeeds", b: testbed.ImageExit(0), wantJob: batchv1.JobComplete, wantPhase: corev1.PodSucceeded, mainRuns: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := bed.Namespace(t)
			ctx := testContext(t)
			inits := []container{{"a", "alpine:3.20"}, {"b", tt.b}}
			createJob(t, ctx, c, ns, newJob("multi", nil, inits, container{"c", "alpine:3.20"}))
			waitJobCondition(t, ctx, c, ns, "multi", tt.wantJob)
			pod := jobPod(t, ctx, c, ns, "multi", podPhase(tt.wantPhase))

			if a := containerStatus(t, pod, "a"); a.State.Terminated == nil || a.State.Terminated.ExitCode != 0 {
				t.Errorf("a state = %+v, want terminated with 0", a.State)
			}
			if b := containerStatus(t, pod, "b"); b.State.Terminated == nil || b.State.Terminated.ExitCode != tt.wantBExit {
				t.Errorf("b state = %+v, want terminated with %d", b.State, tt.wantBExit)
			}
			main := containerStatus(t, pod, "c")
			if tt.mainRuns {
				if main.State.Terminated == nil || main.State.Terminated.ExitCode != 0 {
					t.Errorf("c state = %+v, want terminated with 0", main.State)
				}
				return
			}
			if main.State.Running != nil || main.State.Terminated != nil || main.Started == nil || *main.Started {
				t.Errorf("c state = %+v (started %v), want never started", main.State, main.Started)
			}
			if main.State.Waiting == nil || main.State.Waiting.Reason != "PodInitializing" {
				t.Errorf("c state = %+v, want waiting in PodInitializing", main.State)
			}
		})
	}
}

func TestTestImagesSimulateKubeletStates(t *testing.T) {
	bed := testbed.Get(t)
	c := bed.Client()
	waitingIn := func(reason string) func(*corev1.Pod) bool {
		return func(p *corev1.Pod) bool {
			s := p.Status.ContainerStatuses
			return len(s) == 1 && s[0].State.Waiting != nil && s[0].State.Waiting.Reason == reason
		}
	}
	tests := []struct {
		name  string
		image string
		// pod is the state the pod must reach.
		pod func(*corev1.Pod) bool
		// jobEnds is the Job's final condition, if the state ends it.
		jobEnds batchv1.JobConditionType
	}{
		{"image pull back-off", testbed.ImagePullBackOff, waitingIn("ImagePullBackOff"), ""},
		{"config error", testbed.ImageConfigError, waitingIn("CreateContainerConfigError"), ""},
		{"unknown test image", testbed.ImagePrefix + "no-such-image", waitingIn("ErrImagePull"), ""},
		{"OOM killed", testbed.ImageOOMKilled, func(p *corev1.Pod) bool {
			s := p.Status.ContainerStatuses
			return p.Status.Phase == corev1.PodFailed && len(s) == 1 && s[0].State.Terminated != nil &&
				s[0].State.Terminated.Reason == "OOMKilled" && s[0].State.Terminated.ExitCode == 137
		}, batchv1.JobFailed},
		{"sleep", testbed.ImageSleep, func(p *corev1.Pod) bool {
			s := p.Status.ContainerStatuses
			return p.Status.Phase == corev1.PodRunning && len(s) == 1 && s[0].State.Running != nil
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := bed.Namespace(t)
			ctx := testContext(t)
			createJob(t, ctx, c, ns, newJob("img", nil, nil, container{"task", tt.image}))
			jobPod(t, ctx, c, ns, "img", tt.pod)
			if tt.jobEnds != "" {
				waitJobCondition(t, ctx, c, ns, "img", tt.jobEnds)
			}
		})
	}
}

func TestActiveDeadlineFailsSleepingJob(t *testing.T) {
	bed := testbed.Get(t)
	ns := bed.Namespace(t)
	ctx := testContext(t)
	c := bed.Client()
	job := newJob("deadline", nil, nil, container{"task", testbed.ImageSleep})
	deadline := int64(1)
	job.Spec.ActiveDeadlineSeconds = &deadline
	createJob(t, ctx, c, ns, job)
	failed := waitJobCondition(t, ctx, c, ns, "deadline", batchv1.JobFailed)
	if cond, _ := jobCondition(failed, batchv1.JobFailed); cond.Reason != "DeadlineExceeded" {
		t.Errorf("Failed condition reason = %q, want DeadlineExceeded", cond.Reason)
	}
}

func TestApplyValidatesStrictlyAndKnowsKnativeKinds(t *testing.T) {
	bed := testbed.Get(t)
	ns := bed.Namespace(t)
	ctx := testContext(t)

	source := `apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata:
  name: jobs
spec:
  mode: Resource
  resources:
  - apiVersion: batch/v1
    kind: Job
  sink:
    uri: http://127.0.0.1:1/
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: fn
spec:
  template:
    spec:
      containers:
      - image: testbed.local/sleep
`
	objs, err := bed.Apply(ctx, ns, []byte(source))
	if err != nil {
		t.Fatalf("apply Knative objects: %v", err)
	}
	if len(objs) != 2 || objs[0].GetNamespace() != ns {
		t.Fatalf("applied %d objects (first in %q), want 2 in %s", len(objs), objs[0].GetNamespace(), ns)
	}

	_, err = bed.Apply(ctx, ns, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatta:\n  a: b\n"))
	if err == nil || !strings.Contains(err.Error(), "datta") {
		t.Errorf("apply with unknown field: err = %v, want a strict-validation error naming .datta", err)
	}
}

func TestRestrictedNamespaceRefusesUnhardenedPods(t *testing.T) {
	bed := testbed.Get(t)
	ns := bed.Namespace(t, testbed.Restricted())
	ctx := testContext(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "loose"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "alpine:3.20"}}},
	}
	_, err := bed.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("create unhardened pod in restricted namespace: err = %v, want Forbidden by PodSecurity restricted", err)
	}
}
