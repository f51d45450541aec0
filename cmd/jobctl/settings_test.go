package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		change func(s *jobs.Settings)
	}{
		{"empty file keeps the defaults", "", func(*jobs.Settings) {}},
		{"comment only", "# nothing\n", func(*jobs.Settings) {}},
		{"names", "namespace: ns\nserviceAccount: sa\nmanagedBy: me\n", func(s *jobs.Settings) {
			s.Namespace, s.ServiceAccount, s.ManagedBy = "ns", "sa", "me"
		}},
		{"fetcher", "fetcherImage: r/i:1\nfetcherImagePullPolicy: Always\nfetchTimeout: 90s\n", func(s *jobs.Settings) {
			s.FetcherImage, s.FetcherImagePullPolicy, s.FetchTimeoutSeconds = "r/i:1", corev1.PullAlways, 90
		}},
		{"API URL gets /resource-service", "keptnAPIURL: https://k.example/api/\n", func(s *jobs.Settings) {
			s.KeptnAPIURL = "https://k.example/api/resource-service"
		}},
		{"resource URL wins", "keptnAPIURL: https://k.example/api\nkeptnResourceURL: http://rs:8080\n", func(s *jobs.Settings) {
			s.KeptnAPIURL = "http://rs:8080"
		}},
		{"token secret, CA", "keptnAPITokenSecret: tok/t\ncaConfigMap: ca/ca.crt\n", func(s *jobs.Settings) {
			s.TokenSecret = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "tok"}, Key: "t"}
			s.CAConfigMap = &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "ca"}, Key: "ca.crt"}
		}},
		{"TLS off", "keptnInsecureSkipVerify: true\n", func(s *jobs.Settings) { s.InsecureSkipTLSVerify = true }},
		{"deadline in seconds", "taskDeadline: 1h30m\n", func(s *jobs.Settings) { s.TaskDeadlineSeconds = 5400 }},
		{"workspace raises the ceiling", "workspaceSize: 2Gi\n", func(s *jobs.Settings) {
			s.WorkspaceSize, s.MaxWorkspaceSize = resource.MustParse("2Gi"), resource.MustParse("2Gi")
		}},
		{"ceiling", "maxWorkspaceSize: 100Mi\n", func(s *jobs.Settings) { s.MaxWorkspaceSize = resource.MustParse("100Mi") }},
		{"resources replace the defaults", "taskResources: {limits: {cpu: 2}}\nfetcherResources: {requests: {memory: 8Mi}}\n", func(s *jobs.Settings) {
			s.TaskResources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
			s.FetcherResources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Mi")}}
		}},
		{"ids and ttl", "runAsUser: 2000\nrunAsGroup: 2500\nfsGroup: 3000\nttlSecondsAfterFinished: 0\n", func(s *jobs.Settings) {
			s.RunAsUser, s.RunAsGroup, s.FSGroup, s.TTLSecondsAfterFinished = 2000, 2500, 3000, 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSettings("settings.yaml", []byte(tt.yaml))
			require.NoError(t, err)
			want := jobs.DefaultSettings()
			tt.change(&want)
			assert.Equal(t, want, got)
		})
	}
}

func TestParseSettingsErrors(t *testing.T) {
	tests := []struct {
		yaml, err string
	}{
		{"[a, b]\n", "settings.yaml:1:1: settings must be a mapping of key: value"},
		{"namespace: [a]\n", "settings.yaml:1:12: namespace: must be a single value, not a list or mapping"},
		{"namespace:\n", "settings.yaml:1:11: namespace: must not be empty"},
		{"namespace: a\nnamespace: b\n", "settings.yaml:2:1: namespace: set twice"},
		{"image: x\n", "settings.yaml:1:1: image: unknown setting (known: " + jobs.SettingKeys() + ")"},
		{"fetcherImagePullPolicy: Sometimes\n", `settings.yaml:1:25: fetcherImagePullPolicy: "Sometimes" is not Always, Never or IfNotPresent`},
		{"keptnAPITokenSecret: token\n", `settings.yaml:1:22: keptnAPITokenSecret: "token": want <name>/<key>`},
		{"keptnInsecureSkipVerify: maybe\n", `settings.yaml:1:26: keptnInsecureSkipVerify: "maybe" is not true or false`},
		{"taskDeadline: 300\n", `settings.yaml:1:15: taskDeadline: "300" is not a duration such as 90s or 5m`},
		{"taskDeadline: 10ms\n", `settings.yaml:1:15: taskDeadline: "10ms": want at least 1s`},
		{"fetchTimeout: -1s\n", `settings.yaml:1:15: fetchTimeout: "-1s": want at least 1s`},
		{"workspaceSize: big\n", `settings.yaml:1:16: workspaceSize: "big" is not a quantity such as 500m or 128Mi`},
		{"runAsUser: 0\n", `settings.yaml:1:12: runAsUser: "0": want a whole number from 1 to 2147483647`},
		{"taskResources: {requests: {cpu: 2}, limits: {cpu: 1}}\n", "settings.yaml:1:16: taskResources: requests.cpu 2 is above limits.cpu 1"},
		{"taskResources: {limit: {cpu: 1}}\n", "settings.yaml:1:16: taskResources: limit: unknown key (want requests or limits)"},
		{"namespace: 'a\n", "settings.yaml:2: invalid YAML: found unexpected end of stream"},
		{"namespace: a\n---\nnamespace: b\n", "settings.yaml:2:1: only one YAML document is allowed (found a second one)"},
		// Each key is fine; together they are not.
		{"workspaceSize: 2Gi\nmaxWorkspaceSize: 1Gi\n", "settings.yaml: settings: max workspace size 1Gi is below the default 2Gi"},
		{"managedBy: ''\n", "settings.yaml: settings: managedBy is empty"},
		{"caConfigMap: ca/ca.crt\nkeptnInsecureSkipVerify: true\n", "settings.yaml: settings: a CA ConfigMap and skipping TLS verification contradict each other; choose one"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			_, err := parseSettings("settings.yaml", []byte(tt.yaml))
			require.Error(t, err)
			assert.Equal(t, tt.err, err.Error())
		})
	}
}

// TestSettingsFollowFunctionEnv keeps the keys in step with the function's
// environment: every variable named here exists there.
func TestSettingsFollowFunctionEnv(t *testing.T) {
	env := map[string]bool{}
	for _, v := range function.Env {
		env[v.Name] = true
	}
	for _, s := range jobs.SettingsTable {
		if s.Env != "" {
			assert.True(t, env[s.Env], "%s maps to %s, which function.Env does not have", s.Key, s.Env)
		}
	}
}

func TestSettingsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/jobctl.md")
	require.NoError(t, err)
	for _, s := range jobs.SettingsTable {
		assert.Contains(t, string(doc), "| `"+s.Key+"` | `"+s.Env+"` |", "docs/jobctl.md documents %s as %s", s.Key, s.Env)
	}
}

func FuzzParseSettings(f *testing.F) {
	seeds := []string{"", "namespace: ns\n", "taskResources: {requests: {cpu: 2}, limits: {cpu: 1}}\n", "[a]", "a: &x [*x]\n", "workspaceSize: 2Gi\n"}
	if raw, err := os.ReadFile("testdata/render/settings.yaml"); err == nil {
		seeds = append(seeds, string(raw))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSettings("settings.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "settings.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted settings that do not validate: %v", err)
		}
	})
}
