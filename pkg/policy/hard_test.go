package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	psa "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
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

// TestCheckJobRefusesEveryLooseningOfTheHardRules loosens a built Job one
// field at a time. podSecurity cases are refused by Kubernetes' evaluator
// and rule is part of its wording (the API server's own message); the
// others are our rules, stricter than restricted or beyond it.
func TestCheckJobRefusesEveryLooseningOfTheHardRules(t *testing.T) {
	tests := []struct {
		rule        string
		podSecurity bool
		loosen      func(*corev1.PodSpec)
	}{
		{`host namespaces (hostNetwork=true)`, true, func(s *corev1.PodSpec) { s.HostNetwork = true }},
		{`host namespaces (hostPID=true)`, true, func(s *corev1.PodSpec) { s.HostPID = true }},
		{`host namespaces (hostIPC=true)`, true, func(s *corev1.PodSpec) { s.HostIPC = true }},
		{`restricted volume types (volume "host" uses restricted volume type "hostPath")`, true, func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}},
		{`forbidden sysctls (net.ipv4.ip_forward)`, true, func(s *corev1.PodSpec) {
			s.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_forward", Value: "1"}}
		}},
		{`runAsUser=0 (pod must not set runAsUser=0)`, true, func(s *corev1.PodSpec) { s.SecurityContext.RunAsUser = ptr.To[int64](0) }},
		{`runAsUser=0 (container "task-0-task0" must not set runAsUser=0)`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.RunAsUser = ptr.To[int64](0)
		}},
		{`privileged (container "task-0-task0" must not set securityContext.privileged=true)`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Privileged = ptr.To(true)
		}},
		{`allowPrivilegeEscalation != false (container "fetch-files" must set securityContext.allowPrivilegeEscalation=false)`, true, func(s *corev1.PodSpec) {
			s.InitContainers[0].SecurityContext.AllowPrivilegeEscalation = nil
		}},
		{`unrestricted capabilities (container "task-0-task0" must not include "SYS_ADMIN" in securityContext.capabilities.add)`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		}},
		{`unrestricted capabilities (container "task-0-task0" must set securityContext.capabilities.drop=["ALL"])`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Drop = nil
		}},
		{`unrestricted capabilities (container "task-0-task0" must set securityContext.capabilities.drop=["ALL"])`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Drop = []corev1.Capability{"NET_RAW"}
		}},
		{`runAsNonRoot != true (container "task-0-task0" must not set securityContext.runAsNonRoot=false)`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.RunAsNonRoot = ptr.To(false)
		}},
		{`runAsNonRoot != true (pod or container "task-0-task0" must set securityContext.runAsNonRoot=true)`, true, func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot = nil
			s.Containers[0].SecurityContext.RunAsNonRoot = nil
		}},
		{`seccompProfile (container "task-0-task0" must not set securityContext.seccompProfile.type to "Unconfined")`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}},
		{`seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")`, true, func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			for _, c := range slices.Concat(s.InitContainers, s.Containers) {
				c.SecurityContext.SeccompProfile = nil
			}
		}},
		{`procMount (container "task-0-task0" must not set securityContext.procMount to "Unmasked")`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.ProcMount = ptr.To(corev1.UnmaskedProcMount)
		}},
		{`hostPort (container "task-0-task0" uses hostPort 80)`, true, func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		}},
		{`forbidden AppArmor profile (container "task-0-task0" must not set AppArmor profile type to "Unconfined")`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		}},
		{`seLinuxOptions (container "task-0-task0" set forbidden securityContext.seLinuxOptions: type "spc_t")`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"}
		}},
		{`hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)`, true, func(s *corev1.PodSpec) {
			s.SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
		}},
		{`allowPrivilegeEscalation != false (container "task-0-task0" must set securityContext.allowPrivilegeEscalation=false)`, true, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = nil
		}},
		// Ours: stricter than restricted, or beyond what it looks at.
		{"no sysctls", false, func(s *corev1.PodSpec) {
			s.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}
		}},
		{"volume claim: only emptyDir, configMap, secret, projected and downwardAPI volumes", false, func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "claim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}})
		}},
		{"capability NET_BIND_SERVICE added without pods.allowNetBindService", false, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
		}},
		{"pod runAsGroup 0", false, func(s *corev1.PodSpec) { s.SecurityContext.RunAsGroup = ptr.To[int64](0) }},
		{"container task-0-task0: runAsGroup 0", false, func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.RunAsGroup = ptr.To[int64](0)
		}},
		{"no ephemeral containers", false, func(s *corev1.PodSpec) {
			s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", SecurityContext: s.Containers[0].SecurityContext.DeepCopy(),
			}}}
		}},
		// The fetcher's token Secret, however a pod could reach it.
		{"keptn-api-token is read by container task-0-task0 (envFrom)", false, func(s *corev1.PodSpec) {
			s.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"}}}}
		}},
		{"keptn-api-token is read by container task-0-task0 (env T)", false, func(s *corev1.PodSpec) {
			s.Containers[0].Env = append(s.Containers[0].Env, corev1.EnvVar{Name: "T", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"}, Key: "token"}}})
		}},
		{"keptn-api-token is read by container fetch-files (env OTHER)", false, func(s *corev1.PodSpec) {
			s.InitContainers[0].Env = append(s.InitContainers[0].Env, corev1.EnvVar{Name: "OTHER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"}, Key: "token"}}})
		}},
		{"keptn-api-token is read by volume v", false, func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "keptn-api-token"}}})
		}},
		{"keptn-api-token is read by volume p", false, func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "keptn-api-token"}}}}}}})
		}},
		{"keptn-api-token is read by imagePullSecrets", false, func(s *corev1.PodSpec) {
			s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "keptn-api-token"}}
		}},
		{"no token of the default service account", false, func(s *corev1.PodSpec) {
			s.ServiceAccountName, s.AutomountServiceAccountToken = "default", ptr.To(true)
		}},
		{"no token of the default service account", false, func(s *corev1.PodSpec) {
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
			assert.Equal(t, tt.podSecurity, v.PodSecurity, v.Rule)
			if tt.podSecurity {
				assert.Contains(t, err.Error(), `breaks Pod Security "restricted" (latest): `)
			}
			assert.True(t, IsRefusal(err))
		})
	}
}

// TestCheckJobReadsThePodTemplatesMetadata: some of restricted is written
// in annotations (AppArmor before its field), so the evaluator gets the
// template's metadata, not only its spec.
func TestCheckJobReadsThePodTemplatesMetadata(t *testing.T) {
	job := builtJob(t)
	job.Spec.Template.Annotations = map[string]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "task-0-task0": corev1.DeprecatedAppArmorBetaProfileNameUnconfined}
	err := Default().CheckJob(job, testSettings())
	var v *Violation
	require.ErrorAs(t, err, &v)
	assert.True(t, v.PodSecurity)
	assert.Contains(t, v.Rule, `forbidden AppArmor profile`)
	assert.Contains(t, v.Rule, `unconfined`)
}

func TestCheckJobAllowsNetBindServiceOnlyByPolicy(t *testing.T) {
	job := builtJob(t)
	job.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
	p := parsePolicy(t, "apiVersion: v1\npods:\n  allowNetBindService: true\n")
	assert.NoError(t, p.CheckJob(job, testSettings()))
}

// TestEveryBuiltJobPassesRestricted builds every action of every accepted
// job config fixture, in Keptn's mode and in the generic one, and asks
// Kubernetes' evaluator about each Job: not one check may fail, and
// CheckJob (with our own rules) accepts it too.
func TestEveryBuiltJobPassesRestricted(t *testing.T) {
	configs, err := filepath.Glob("../../testdata/jobconfigs/*.yaml")
	require.NoError(t, err)
	seeds, err := filepath.Glob("../jobconfig/testdata/*.yaml")
	require.NoError(t, err)
	configs = append(configs, seeds...)
	require.Greater(t, len(configs), 20)

	// The fixtures' event lookups find something in either mode.
	data := map[string]any{
		"project": "p", "stage": "s", "service": "v",
		"labels":         map[string]any{"buildId": "42", "jsonPathLabel": "x"},
		"deployment":     map[string]any{"deploymentURIsPublic": []any{"http://a"}, "deploymentURIsLocal": []any{"http://b"}},
		"additionalData": map[string]any{"jsonPathArray": []any{"a", "b"}, "nested": map[string]any{"k": "v"}},
	}
	keptnEvent := testEvent(func(ev *keptn.TaskEvent) { ev.Data = data })
	generic := testSettings()
	generic.GenericConfigMap = "job-files"
	built := 0
	for _, path := range configs {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		for mode, s := range map[string]jobs.Settings{"keptn": testSettings(), "generic": generic} {
			cfg, ev := parseConfig(t, string(raw)), keptnEvent
			if mode == "generic" {
				cfg, ev = asConfigMapKeys(cfg), genericEvent(data)
			}
			for i, a := range cfg.Actions {
				if slices.ContainsFunc(a.Tasks, func(t jobconfig.Task) bool { return t.Plugin != "" }) {
					continue // a plugin task needs a catalog: TestSeedPluginExamplesRender
				}
				t.Run(fmt.Sprintf("%s/%d/%s", filepath.Base(path), i, mode), func(t *testing.T) {
					job, err := jobs.Build(cfg, i, ev, s)
					require.NoError(t, err)
					failed, err := podSecurity(&job.Spec.Template)
					require.NoError(t, err)
					assert.Empty(t, failed)
					assert.NoError(t, Default().CheckJob(job, s))
				})
				built++
			}
		}
	}
	t.Logf("%d Jobs built and checked", built)
}

// asConfigMapKeys turns cfg's files into ConfigMap keys, as a generic
// event's files are written.
func asConfigMapKeys(cfg *jobconfig.Config) *jobconfig.Config {
	key := regexp.MustCompile(`[^-._a-zA-Z0-9]`)
	for _, a := range cfg.Actions {
		for j := range a.Tasks {
			for k, f := range a.Tasks[j].Files {
				a.Tasks[j].Files[k] = key.ReplaceAllString(f, "-")
			}
		}
	}
	return cfg
}

func genericEvent(data map[string]any) *keptn.TaskEvent {
	whole := map[string]any{"specversion": "1.0", "id": "e-1", "source": "ci", "type": "com.example.build", "data": data}
	raw, _ := json.Marshal(whole)
	return &keptn.TaskEvent{ID: "e-1", Type: "com.example.build", Source: "ci", Kind: keptn.KindTriggered, Generic: true, Whole: whole, Raw: raw}
}

// BenchmarkCheckJob is the cost of the last check on every Job the
// function creates (docs/design.md, Libraries).
func BenchmarkCheckJob(b *testing.B) {
	cfg := parseConfig(b, configYAML(withImageTask("alpine", "files: [a.txt]")))
	job, err := jobs.Build(cfg, 0, testEvent(), testSettings())
	require.NoError(b, err)
	p, s := Default(), testSettings()
	require.NoError(b, p.CheckJob(job, s))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.CheckJob(job, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPodSecurityEvaluator is the one-time cost of the evaluator,
// paid by the first CheckJob of a process, not by its start.
func BenchmarkPodSecurityEvaluator(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := psa.NewEvaluator(psa.DefaultChecks()); err != nil {
			b.Fatal(err)
		}
	}
}
