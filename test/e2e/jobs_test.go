package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// waitTimeout bounds every wait in these tests; it is a guard against a
// hang, not an assertion about speed.
const waitTimeout = 2 * time.Minute

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

type container struct{ name, image string }

// newJob is a Job like ours: init containers run in order, then the main
// container; no retries, so the first failing pod fails the Job.
func newJob(name string, labels map[string]string, inits []container, main container) *batchv1.Job {
	backoff := int32(0)
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}
	for _, c := range inits {
		spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: c.name, Image: c.image})
	}
	spec.Containers = []corev1.Container{{Name: main.name, Image: main.image}}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			Template:     corev1.PodTemplateSpec{Spec: spec},
		},
	}
}

func createJob(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string, job *batchv1.Job) *batchv1.Job {
	t.Helper()
	created, err := c.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job %s: %v", job.Name, err)
	}
	return created
}

// waitJobCondition waits until the Job has condition want set to True and
// fails the test if it ends in the other terminal condition instead.
func waitJobCondition(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, want batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var last *batchv1.Job
	for {
		job, err := c.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = job
			for _, cond := range job.Status.Conditions {
				if cond.Status != corev1.ConditionTrue {
					continue
				}
				if cond.Type == want {
					return job
				}
				if cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed {
					t.Fatalf("job %s ended %s (%s: %s), want %s", name, cond.Type, cond.Reason, cond.Message, want)
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s never reached %s; last status: %+v", name, want, statusOf(last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func statusOf(j *batchv1.Job) any {
	if j == nil {
		return nil
	}
	return j.Status
}

// jobPod returns the Job's only pod, waiting for it to exist and for cond to
// hold on it.
func jobPod(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, job string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	for {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job})
		if err == nil && len(pods.Items) > 1 {
			t.Fatalf("job %s has %d pods, want 1", job, len(pods.Items))
		}
		if err == nil && len(pods.Items) == 1 {
			last = &pods.Items[0]
			if cond(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod of job %s never reached the expected state; last: %+v", job, podStatus(last))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func podStatus(p *corev1.Pod) any {
	if p == nil {
		return nil
	}
	return p.Status
}

func podPhase(phase corev1.PodPhase) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Status.Phase == phase }
}

// containerStatus finds a container's status among init and main containers.
func containerStatus(t *testing.T, pod *corev1.Pod, name string) corev1.ContainerStatus {
	t.Helper()
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, s := range list {
			if s.Name == name {
				return s
			}
		}
	}
	t.Fatalf("pod %s has no status for container %s", pod.Name, name)
	return corev1.ContainerStatus{}
}

// podLogs reads pods/<pod>/log?container=<container> through the apiserver,
// which fetches it from the node's kubelet endpoint (kwok). The log rule
// reaches kwok through a watch, so a "no logs" answer is retried until ctx
// ends.
func podLogs(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, pod, container string) string {
	t.Helper()
	var lastErr error
	for {
		data, err := c.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		if err == nil {
			return string(data)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("logs of %s/%s container %s: %v", ns, pod, container, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func jobCondition(job *batchv1.Job, typ batchv1.JobConditionType) (batchv1.JobCondition, error) {
	for _, c := range job.Status.Conditions {
		if c.Type == typ {
			return c, nil
		}
	}
	return batchv1.JobCondition{}, fmt.Errorf("job %s has no %s condition", job.Name, typ)
}
