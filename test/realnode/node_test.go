package realnode

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// TestRealNodeRunsAJob is the lane's own check, without the function: a
// Job under Pod Security "restricted" whose init container writes to an
// emptyDir and whose container reads it back, logs it and leaves a
// termination message.
func TestRealNodeRunsAJob(t *testing.T) {
	bed := testbed.Get(t)
	ns := bed.Namespace(t, testbed.Restricted())
	ctx := context.Background()
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true), RunAsNonRoot: ptr.To(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	mount := []corev1.VolumeMount{{Name: "w", MountPath: "/w"}}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "lane"},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy:   corev1.RestartPolicyNever,
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](65532), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Volumes:         []corev1.Volume{{Name: "w", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			InitContainers: []corev1.Container{{Name: "write", Image: testbed.RealToolsImage, SecurityContext: sc, VolumeMounts: mount,
				Command: []string{"sh", "-c", "echo hello from $(id -u) > /w/greeting"}}},
			Containers: []corev1.Container{{Name: "read", Image: testbed.RealToolsImage, SecurityContext: sc, VolumeMounts: mount,
				Command: []string{"sh", "-c", "cat /w/greeting; echo '{\"ok\":true}' > /dev/termination-log"}}},
		}}},
	}
	_, err := bed.Client().BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	var pod corev1.Pod
	require.Eventually(t, func() bool {
		pods, err := bed.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=lane"})
		if err != nil || len(pods.Items) == 0 {
			return false
		}
		pod = pods.Items[0]
		return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	}, 2*time.Minute, 200*time.Millisecond)
	require.Equal(t, corev1.PodSucceeded, pod.Status.Phase, "%+v", pod.Status)
	logs, err := bed.Client().CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "read"}).DoRaw(ctx)
	require.NoError(t, err)
	require.Equal(t, "hello from 65532\n", string(logs))
	require.Equal(t, `{"ok":true}`+"\n", pod.Status.ContainerStatuses[0].State.Terminated.Message)
}
