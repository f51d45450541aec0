package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// builtJob is a Job as the builder makes it, with files (so the fetcher
// and its volumes are there too).
func builtJob(t *testing.T) *batchv1.Job {
	t.Helper()
	cfg := parseConfig(t, configYAML(withImageTask("alpine", "files: [a.txt]")))
	job, err := jobs.Build(cfg, 0, testEvent(), testSettings())
	require.NoError(t, err)
	return job
}

func TestCheckJobAcceptsWhatTheBuilderMakes(t *testing.T) {
	require.NoError(t, Default().CheckJob(builtJob(t), testSettings()))
}

func TestCheckJobRefusesEveryLooseningOfTheHardRules(t *testing.T) {
	tests := []struct {
		rule   string
		loosen func(*corev1.PodSpec)
	}{
		{"hostNetwork", func(s *corev1.PodSpec) { s.HostNetwork = true }},
		{"hostPID", func(s *corev1.PodSpec) { s.HostPID = true }},
		{"hostIPC", func(s *corev1.PodSpec) { s.HostIPC = true }},
		{"volume host", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}},
		{"sysctls", func(s *corev1.PodSpec) {
			s.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_forward", Value: "1"}}
		}},
		{"pod runAsUser 0", func(s *corev1.PodSpec) { s.SecurityContext.RunAsUser = ptr.To[int64](0) }},
		{"privileged", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Privileged = ptr.To(true) }},
		{"allowPrivilegeEscalation", func(s *corev1.PodSpec) { s.InitContainers[0].SecurityContext.AllowPrivilegeEscalation = nil }},
		{"capability SYS_ADMIN added", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		}},
		{"capability NET_BIND_SERVICE added", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
		}},
		{"drop ALL", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities.Drop = nil }},
		{"runAsNonRoot", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.RunAsNonRoot = ptr.To(false)
		}},
		{"seccompProfile", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}},
		{"procMount", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount)
		}},
		{"hostPort", func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		}},
		{"securityContext", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext = nil }},
		{"ephemeral", func(s *corev1.PodSpec) {
			s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
		}},
		// The fetcher's token Secret, however a pod could reach it.
		{"keptn-api-token is read by container task-0-task0 (envFrom)", func(s *corev1.PodSpec) {
			s.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"}}}}
		}},
		{"keptn-api-token is read by container task-0-task0 (env T)", func(s *corev1.PodSpec) {
			s.Containers[0].Env = append(s.Containers[0].Env, corev1.EnvVar{Name: "T", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"}, Key: "token"}}})
		}},
		{"keptn-api-token is read by container fetch-files (env OTHER)", func(s *corev1.PodSpec) {
			s.InitContainers[0].Env = append(s.InitContainers[0].Env, corev1.EnvVar{Name: "OTHER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"}, Key: "token"}}})
		}},
		{"keptn-api-token is read by volume v", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "keptn-api-token"}}})
		}},
		{"keptn-api-token is read by volume p", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"}}}}}}})
		}},
		{"keptn-api-token is read by imagePullSecrets", func(s *corev1.PodSpec) {
			s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "keptn-api-token"}}
		}},
		{"no token of the default service account", func(s *corev1.PodSpec) {
			s.ServiceAccountName, s.AutomountServiceAccountToken = "default", ptr.To(true)
		}},
		{"no token of the default service account", func(s *corev1.PodSpec) {
			s.ServiceAccountName, s.AutomountServiceAccountToken = "", nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			job := builtJob(t)
			tt.loosen(&job.Spec.Template.Spec)
			err := Default().CheckJob(job, testSettings())
			var v *Violation
			require.ErrorAs(t, err, &v)
			assert.Contains(t, v.Rule, tt.rule)
			assert.True(t, IsRefusal(err))
		})
	}
}

func TestCheckJobAllowsNetBindServiceOnlyByPolicy(t *testing.T) {
	job := builtJob(t)
	job.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
	p := parsePolicy(t, "apiVersion: v1\npods:\n  allowNetBindService: true\n")
	assert.NoError(t, p.CheckJob(job, testSettings()))
}
