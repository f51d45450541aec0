package jobs

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

var update = flag.Bool("update", false, "rewrite golden files (review the diff before committing)")

// jobConfigs are the repository's own job config fixtures
// (testdata/README.md at the repository root).
const jobConfigs = "../../testdata/jobconfigs/"

// eventOption changes the triggered event of a test.
type eventOption func(ce *event.Event)

func withType(t string) eventOption { return func(ce *event.Event) { ce.SetType(t) } }

func withData(data map[string]any) eventOption {
	return func(ce *event.Event) { _ = ce.SetData(event.ApplicationJSON, data) }
}

func withCommit(id string) eventOption {
	return func(ce *event.Event) { ce.SetExtension(keptn.ExtGitCommitID, id) }
}

func triggered(t *testing.T, opts ...eventOption) *keptn.TaskEvent {
	t.Helper()
	ce := event.New()
	ce.SetID("0f2a5a7e-6c2b-4a4e-9a53-3f6f4c3c2d10")
	ce.SetSource("shipyard-controller")
	ce.SetType("sh.keptn.event.deployment.triggered")
	ce.SetExtension(keptn.ExtContext, "9f3b2c1d-8e7f-4a6b-9c5d-4e3f2a1b0c9d")
	_ = ce.SetData(event.ApplicationJSON, map[string]any{
		"project": "e2e-project", "stage": "e2e", "service": "e2e-service",
		"labels": map[string]string{"build-id": "42", "sleep": "1"},
	})
	for _, o := range opts {
		o(&ce)
	}
	ev, err := keptn.ParseTaskEvent(ce)
	require.NoError(t, err)
	return ev
}

func parse(t *testing.T, path string) *jobconfig.Config {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg, err := jobconfig.Parse("job/config.yaml", raw)
	require.NoError(t, err)
	return cfg
}

func testSettings() Settings {
	s := DefaultSettings()
	s.FetcherImage = "registry.example/initcontainer@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	s.KeptnAPIURL = "http://resource-service.keptn:8080"
	return s
}

// TestBuildGolden renders the end-to-end job configs into Jobs and compares
// them with reviewed golden files in testdata/.
func TestBuildGolden(t *testing.T) {
	tests := []struct {
		name   string
		config string
		event  []eventOption
		action int
	}{
		{name: "helloworld", config: jobConfigs + "hello-world.yaml"},
		{name: "envvar", config: jobConfigs + "env.yaml", event: []eventOption{withData(map[string]any{
			"project": "e2e-project", "stage": "e2e", "service": "e2e-service",
			"labels":         map[string]string{"jsonPathLabel": "label-value"},
			"additionalData": map[string]any{"jsonPathArray": []any{"a", "b"}, "nested": map[string]any{"k": "v"}},
		})}},
		{name: "files", config: jobConfigs + "files.yaml", event: []eventOption{withCommit("1234567890abcdef")}},
		{name: "locust", config: jobConfigs + "locust.yaml", event: []eventOption{withType("sh.keptn.event.test.triggered"), withData(map[string]any{
			"project": "e2e-project", "stage": "qa", "service": "carts",
			"deployment": map[string]any{"deploymentURIsPublic": []any{"http://carts.qa.example"}},
			"test":       map[string]any{"teststrategy": "locust"},
		})}},
		{name: "seed-simplified", config: "testdata/seed-simplified.config.yaml", event: []eventOption{withType("sh.keptn.event.test.triggered")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, tt.config)
			job, err := Build(cfg, tt.action, triggered(t, tt.event...), testSettings())
			require.NoError(t, err)
			got, err := yaml.Marshal(job)
			require.NoError(t, err)
			golden := filepath.Join("testdata", tt.name+".job.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create it, then review it")
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestBuildPodShape(t *testing.T) {
	cfg := parse(t, jobConfigs+"env.yaml")
	ev := triggered(t, withData(map[string]any{
		"project": "p", "stage": "s", "service": "v",
		"labels":         map[string]string{"jsonPathLabel": "x"},
		"additionalData": map[string]any{"jsonPathArray": []any{"a", "b"}},
	}))
	job, err := Build(cfg, 0, ev, testSettings())
	require.NoError(t, err)
	spec := job.Spec.Template.Spec

	// No files: no fetcher, so no Keptn token anywhere in the pod.
	names := []string{}
	for _, c := range spec.InitContainers {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"task-0-list-the-label-variables", "task-1-read-values-from-the-event", "task-2-read-a-secret"}, names,
		"tasks run in order as init containers")
	assert.Equal(t, "task-3-use-a-literal", spec.Containers[0].Name, "the last task is the main container")
	assertNoToken(t, spec)

	env := map[string]corev1.EnvVar{}
	for _, e := range spec.InitContainers[1].Env {
		env[e.Name] = e
	}
	assert.Equal(t, "x", env["FROM-EVENT-label"].Value)
	assert.Equal(t, "b", env["FROM-EVENT-second"].Value)
	assert.JSONEq(t, `{"jsonPathArray":["a","b"]}`, env["FROM-EVENT-object"].Value)
	assert.Equal(t, "p", env["KEPTN_PROJECT"].Value)
	assert.Equal(t, "x", env["LABELS_JSONPATHLABEL"].Value)
	require.Len(t, spec.InitContainers[2].EnvFrom, 1)
	assert.Equal(t, "database-credentials", spec.InitContainers[2].EnvFrom[0].SecretRef.Name)

	assert.Equal(t, int32(0), *job.Spec.BackoffLimit)
	assert.Equal(t, corev1.RestartPolicyNever, spec.RestartPolicy)
	assert.Equal(t, int64(4*300), *job.Spec.ActiveDeadlineSeconds, "deadline is the sum of the tasks' maxPollDuration")
	assert.False(t, *spec.AutomountServiceAccountToken)
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		sc := c.SecurityContext
		assert.False(t, *sc.AllowPrivilegeEscalation, c.Name)
		assert.True(t, *sc.RunAsNonRoot, c.Name)
		assert.True(t, *sc.ReadOnlyRootFilesystem, c.Name)
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop, c.Name)
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type, c.Name)
	}
	var origin keptn.Origin
	require.NoError(t, json.Unmarshal([]byte(job.Annotations[AnnotationOrigin]), &origin))
	assert.Equal(t, ev.ID, origin.TriggeredID)
	assert.Equal(t, ev.Context, origin.Context)
}

func assertNoToken(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if c.Name == FetcherContainer {
			continue
		}
		for _, e := range c.Env {
			assert.NotEqual(t, "KEPTN_API_TOKEN", e.Name, "task container %s must not get the token", c.Name)
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				assert.NotEqual(t, "keptn-api-token", e.ValueFrom.SecretKeyRef.Name, c.Name)
			}
		}
	}
}

func TestBuildFetcherGetsTokenTasksDoNot(t *testing.T) {
	cfg := parse(t, jobConfigs+"files.yaml")
	job, err := Build(cfg, 0, triggered(t, withCommit("abc")), testSettings())
	require.NoError(t, err)
	spec := job.Spec.Template.Spec
	fetcher := spec.InitContainers[0]
	require.Equal(t, FetcherContainer, fetcher.Name)
	assert.Contains(t, fetcher.Args, "--git-commit-id=abc")
	assert.Contains(t, fetcher.Args, "--max-bytes=20971520")
	dash := -1
	for i, a := range fetcher.Args {
		if a == "--" {
			dash = i
		}
	}
	require.NotEqual(t, -1, dash, "file entries follow --, so none is read as a flag")
	var token bool
	for _, e := range fetcher.Env {
		token = token || e.Name == "KEPTN_API_TOKEN" && e.ValueFrom.SecretKeyRef.Name == "keptn-api-token"
	}
	assert.True(t, token, "the fetcher reads the token from the Secret")
	assertNoToken(t, spec)
}

func TestBuildErrorsNameTheConfigLine(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		event  []eventOption
		want   string
		policy func(*Settings)
		// edit changes the parsed config, for what the parser refuses.
		edit func(*jobconfig.Config)
	}{
		{
			name: "jsonpath finds nothing",
			yaml: `apiVersion: v2
actions:
  - name: a
    events:
      - name: sh.keptn.event.deployment.triggered
    tasks:
      - name: t
        image: alpine
        env:
          - name: X
            value: "$.data.nothing.here"
            valueFrom: event
`,
			want: "job/config.yaml:11:20: actions[0].tasks[0].env[0].value:",
		},
		{
			name: "privileged, in a config built by hand",
			yaml: `apiVersion: v2
actions:
  - name: a
    events:
      - name: sh.keptn.event.deployment.triggered
    tasks:
      - name: t
        image: alpine
`,
			edit: func(c *jobconfig.Config) {
				c.Actions[0].Tasks[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			},
			want: "job/config.yaml:7:9: actions[0].tasks[0].securityContext.privileged: true is not allowed",
		},
		{
			name: "workspace over the ceiling",
			yaml: `apiVersion: v2
actions:
  - name: a
    workspaceSize: 10Gi
    events:
      - name: sh.keptn.event.deployment.triggered
    tasks:
      - name: t
        image: alpine
`,
			want: "actions[0].workspaceSize: 10Gi is over the operator's ceiling 1Gi",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := jobconfig.Parse("job/config.yaml", []byte(tt.yaml))
			require.NoError(t, err)
			if tt.edit != nil {
				tt.edit(cfg)
			}
			s := testSettings()
			if tt.policy != nil {
				tt.policy(&s)
			}
			_, err = Build(cfg, 0, triggered(t, tt.event...), s)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), tt.want), "got %q, want %q", err.Error(), tt.want)
		})
	}
}
