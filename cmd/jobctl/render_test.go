package main

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
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

var update = flag.Bool("update", false, "rewrite golden files (review the diff before committing)")

const (
	testEvent = "testdata/render/test.triggered.json"
	// keptnEvent is a test.triggered as the shipyard-controller sends it.
	keptnEvent = events + "test.triggered.json"
)

// expectJobs builds the Jobs in-process with the function's packages, the
// way launch.Handler does, naming the config as the function's loader does.
func expectJobs(t *testing.T, configFile, configName, eventFile string, s jobs.Settings) string {
	t.Helper()
	data, err := os.ReadFile(configFile)
	require.NoError(t, err)
	cfg, err := jobconfig.Parse(configName, data)
	require.NoError(t, err)
	raw, err := os.ReadFile(eventFile)
	require.NoError(t, err)
	var ce event.Event
	require.NoError(t, json.Unmarshal(raw, &ce))
	ev, err := keptn.ParseTaskEvent(ce)
	require.NoError(t, err)
	var docs []string
	for _, i := range cfg.Match(ev.Type, ev.Document()) {
		job, err := jobs.Build(cfg, i, ev, s)
		require.NoError(t, err)
		y, err := yaml.Marshal(job)
		require.NoError(t, err)
		docs = append(docs, string(y))
	}
	return strings.Join(docs, "---\n")
}

// TestRenderGolden renders the fixtures' configs and this package's and compares the output
// with reviewed golden files and with jobs.Build called in-process.
func TestRenderGolden(t *testing.T) {
	operator := jobs.DefaultSettings()
	operator.Namespace = "team-a-jobs"
	operator.ServiceAccount = "runner"
	operator.FetcherImage = "registry.example/initcontainer:1.0.0"
	operator.KeptnAPIURL = "https://keptn.example/api/resource-service"
	operator.TokenSecret.Name, operator.TokenSecret.Key = "keptn-token", "api-token"
	operator.TaskDeadlineSeconds = 600
	operator.WorkspaceSize = resource.MustParse("64Mi")
	operator.TaskResources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	operator.TTLSecondsAfterFinished = 3600
	tests := []struct {
		name, config, event, settings string
		configName                    string
		s                             jobs.Settings
		jobs                          int
	}{
		{name: "locust", config: jobConfigs + "locust.yaml", event: keptnEvent, jobs: 1,
			configName: "job/config.yaml (service level at 3c9e1f07a5b24d68e0f1a2b3c4d5e6f708192a3b)", s: jobs.DefaultSettings()},
		// "Smoke test with locust" filters on $.test.teststrategy, which is not where
		// Keptn puts data: only the silent catch-all action runs.
		{name: "complex", config: jobConfigs + "complex.yaml", event: keptnEvent, jobs: 1,
			configName: "job/config.yaml (service level at 3c9e1f07a5b24d68e0f1a2b3c4d5e6f708192a3b)", s: jobs.DefaultSettings()},
		{name: "multi", config: "testdata/render/multi.config.yaml", event: testEvent, jobs: 2,
			configName: "job/config.yaml (service level at 521747298a3790fde1710f3aa2d03b55020575aa)", s: jobs.DefaultSettings()},
		{name: "locust-settings", config: jobConfigs + "locust.yaml", event: keptnEvent, settings: "testdata/render/settings.yaml", jobs: 1,
			configName: "job/config.yaml (service level at 3c9e1f07a5b24d68e0f1a2b3c4d5e6f708192a3b)", s: operator},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"render", "--config", tt.config, "--event", tt.event}
			if tt.settings != "" {
				args = append(args, "--settings", tt.settings)
			}
			r := jobctl(t, "", args...)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, tt.jobs, strings.Count(r.stdout, "\nkind: Job\n"))
			assert.Equal(t, tt.jobs-1, strings.Count(r.stdout, "\n---\n"))

			assert.Equal(t, expectJobs(t, tt.config, tt.configName, tt.event, tt.s), r.stdout, "render prints what jobs.Build builds")

			golden := filepath.Join("testdata", "render", tt.name+".jobs.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(r.stdout), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create it, then review it")
			assert.Equal(t, string(want), r.stdout)
		})
	}
}

// TestRenderFailingAction: the action the function would fail is reported
// with its .finished message; the other action's Job is still printed.
func TestRenderFailingAction(t *testing.T) {
	r := jobctl(t, "", "render", "--config", "testdata/render/partial.config.yaml", "--event", testEvent)
	assert.Equal(t, exitInvalid, r.code)
	assert.Equal(t, 1, strings.Count(r.stdout, "\nkind: Job\n"))
	assert.Contains(t, r.stdout, "jobs.keptn.sh/action: Smoke test\n")
	assert.Equal(t, `action "Load test" (actions[1]) would fail; its .finished event (status errored, result fail) says:
job/config.yaml (service level at 521747298a3790fde1710f3aa2d03b55020575aa):20:20: actions[1].tasks[0].env[0].value: finds nothing in the event: $.data.labels.users: unknown key users
`, r.stderr)

	// The message is jobs.Build's error, which the handler sends.
	data, err := os.ReadFile("testdata/render/partial.config.yaml")
	require.NoError(t, err)
	cfg, err := jobconfig.Parse("job/config.yaml (service level at 521747298a3790fde1710f3aa2d03b55020575aa)", data)
	require.NoError(t, err)
	raw, err := os.ReadFile(testEvent)
	require.NoError(t, err)
	ev, err := parseEventFile(testEvent, raw)
	require.NoError(t, err)
	_, err = jobs.Build(cfg, 1, ev, jobs.DefaultSettings())
	require.Error(t, err)
	assert.Contains(t, r.stderr, "\n"+err.Error()+"\n")
}

func TestRenderInvalidConfig(t *testing.T) {
	r := jobctl(t, "", "render", "--config", "testdata/render/invalid.config.yaml", "--event", testEvent)
	assert.Equal(t, exitInvalid, r.code)
	assert.Empty(t, r.stdout, "no Job is printed for an invalid config")
	assert.Equal(t, `jobctl: invalid job config:
job/config.yaml (service level at 521747298a3790fde1710f3aa2d03b55020575aa):9:9: actions[0].tasks[0].image: required unless the task names a plugin
action "Smoke test" (actions[0]) matches: its .finished event (status errored, result fail) carries the errors in actions[0]
action "Load test" (actions[1]) matches: its .finished event (status errored, result fail) carries all of these errors
`, r.stderr)
}

func TestRenderNoMatch(t *testing.T) {
	r := jobctl(t, "", "render", "--config", jobConfigs+"env.yaml", "--event", testEvent)
	assert.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "jobctl: no action of job/config.yaml (service level at 521747298a3790fde1710f3aa2d03b55020575aa) matches sh.keptn.event.test.triggered; the function would ignore the event\n", r.stderr)
}

// TestRenderLevel names the config as the function does for each level: at
// project level it reads the config without the event's commit.
func TestRenderLevel(t *testing.T) {
	tests := map[string]string{
		"service": "job/config.yaml (service level at 521747298a3790fde1710f3aa2d03b55020575aa)",
		"stage":   "job/config.yaml (stage level at 521747298a3790fde1710f3aa2d03b55020575aa)",
		"project": "job/config.yaml (project level)",
	}
	for level, name := range tests {
		t.Run(level, func(t *testing.T) {
			r := jobctl(t, "", "render", "--config", "testdata/render/multi.config.yaml", "--event", testEvent, "--level", level)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, 2, strings.Count(r.stdout, "jobs.keptn.sh/config-file: "+name+"\n"))
			assert.Equal(t, expectJobs(t, "testdata/render/multi.config.yaml", name, testEvent, jobs.DefaultSettings()), r.stdout)
		})
	}
}

func TestRenderEventErrors(t *testing.T) {
	cfg := jobConfigs + "hello-world.yaml"
	tests := []struct {
		name, event, stdin, stderr string
	}{
		{"event as sent to Keptn's API, without id", events + "deployment.triggered.api-request.json", "",
			"jobctl: " + events + "deployment.triggered.api-request.json: the function answers 400: malformed Keptn event: id: MUST be a non-empty string (Keptn's API adds id and shkeptncontext to events sent to it; 'jobctl event' writes complete ones)\n"},
		{"finished event", events + "service.create.finished.json", "",
			"jobctl: " + events + `service.create.finished.json: the function ignores events of type "sh.keptn.event.service.create.finished": only sh.keptn.event.<task>.triggered starts tasks` + "\n"},
		{"not JSON", "-", "project: sockshop\n",
			"jobctl: <stdin>: not a CloudEvent in structured JSON: invalid character 'p' looking for beginning of value\n"},
		{"no context", "-", `{"specversion":"1.0","id":"1","source":"s","type":"sh.keptn.event.test.triggered","data":{"project":"p","stage":"s","service":"v"}}`,
			"jobctl: <stdin>: the function answers 400: malformed Keptn event: extension shkeptncontext is missing (Keptn's API adds id and shkeptncontext to events sent to it; 'jobctl event' writes complete ones)\n"},
		{"over the body limit", "-", strings.Repeat(" ", 1<<20) + "{}",
			"jobctl: <stdin>: the function refuses events over 1048576 bytes (413)\n"},
		{"no service", "-", `{"specversion":"1.0","id":"1","source":"s","type":"sh.keptn.event.test.triggered","shkeptncontext":"c","data":{"project":"p","stage":"s"}}`,
			"jobctl: <stdin>: the function answers 400: malformed Keptn event: data.service is missing\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jobctl(t, tt.stdin, "render", "--config", cfg, "--event", tt.event)
			assert.Equal(t, exitInvalid, r.code)
			assert.Empty(t, r.stdout)
			assert.Equal(t, tt.stderr, r.stderr)
		})
	}
}

func TestRenderStdin(t *testing.T) {
	data, err := os.ReadFile("testdata/render/multi.config.yaml")
	require.NoError(t, err)
	r := jobctl(t, string(data), "render", "--config", "-", "--event", testEvent)
	require.Equal(t, exitOK, r.code, r.stderr)
	want, err := os.ReadFile("testdata/render/multi.jobs.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(want), r.stdout)

	r = jobctl(t, "", "render", "--config", "-", "--event", "-")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "--config and --event cannot both be read from stdin")
}

func TestRenderSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "settings.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("namespace: ns\nnamspace: typo\ntaskDeadline: 5\n"), 0o644))
	r := jobctl(t, "", "render", "--config", jobConfigs+"hello-world.yaml", "--event", testEvent, "--settings", bad)
	assert.Equal(t, exitInvalid, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "jobctl: invalid settings:\n"+
		bad+":2:1: namspace: unknown setting (known: "+jobs.SettingKeys()+")\n"+
		bad+`:3:15: taskDeadline: "5" is not a duration such as 90s or 5m`+"\n", r.stderr)

	r = jobctl(t, "", "render", "--config", jobConfigs+"hello-world.yaml", "--event", testEvent, "--settings", filepath.Join(dir, "missing.yaml"))
	assert.Equal(t, exitUsage, r.code)
}
