package jobconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtures are the project's own job configs and Keptn events
// (testdata/README.md at the repository root): configs in the shapes
// job-executor-service accepted, files it refused, events as Keptn sends them.
const fixtures = "../../testdata"

// configFixture is a job config of the fixtures, by name.
func configFixture(name string) string { return filepath.Join(fixtures, "jobconfigs", name) }

// eventFixture is a Keptn event of the fixtures, by name.
func eventFixture(name string) string { return filepath.Join(fixtures, "events", name) }

// TestParseFixtures checks every job config of the fixtures: those in the
// shapes job-executor-service accepted parse without error, and the files it
// refused as job configs (rejected/) are refused with the reason given. A
// new file fails the test until it is classified here.
func TestParseFixtures(t *testing.T) {
	tests := map[string]struct {
		actions int    // for configs JES accepted
		err     string // first error, for the files JES rejected
	}{
		"cleanup-zero-ttl.yaml":    {actions: 1},
		"cleanup.yaml":             {actions: 1},
		"complex.yaml":             {actions: 2},
		"deadline.yaml":            {actions: 1},
		"egress.yaml":              {actions: 3},
		"env.yaml":                 {actions: 1},
		"files-leading-slash.yaml": {actions: 1},
		"files.yaml":               {actions: 1},
		"folder.yaml":              {actions: 1},
		"hello-world.yaml":         {actions: 1},
		"locust.yaml":              {actions: 1},
		"lookup-project.yaml":      {actions: 1},
		"lookup-service.yaml":      {actions: 1},
		"lookup-stage.yaml":        {actions: 1},
		"nginx.yaml":               {actions: 1},
		"old-commit.yaml":          {actions: 1},
		"remote-task.yaml":         {actions: 1},
		"two-actions.yaml":         {actions: 2},
		"working-dir.yaml":         {actions: 1},
		// JES's yaml.v2 refused a mapping for the actions list too ("cannot
		// unmarshal !!map into []config.Action").
		"rejected/actions-mapping.yaml": {err: "rejected/actions-mapping.yaml:2:10: actions: must be a list (got a mapping)"},
		// Job label files and shipyards, not job configs.
		"rejected/invalid-labels-file.yaml": {err: "rejected/invalid-labels-file.yaml:1:1: Bad_Label: unknown field"},
		"rejected/labels-file.yaml":         {err: "rejected/labels-file.yaml:1:1: Team: unknown field"},
		"rejected/shipyard.yaml":            {err: "rejected/shipyard.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
	}

	var files []string
	for _, pattern := range []string{"*.yaml", "rejected/*.yaml"} {
		found, err := filepath.Glob(configFixture(pattern))
		require.NoError(t, err)
		files = append(files, found...)
	}
	require.Len(t, files, len(tests), "fixtures found: %v", files)
	for _, f := range files {
		rel, err := filepath.Rel(configFixture(""), f)
		require.NoError(t, err)
		_, ok := tests[filepath.ToSlash(rel)]
		assert.True(t, ok, "%s is not classified in this test", rel)
	}

	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(configFixture(name))
			require.NoError(t, err)
			cfg, err := Parse(name, data)
			require.NotNil(t, cfg)
			if tc.err != "" {
				require.Error(t, err)
				var list ErrorList
				require.ErrorAs(t, err, &list)
				assert.Equal(t, tc.err, list[0].Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, APIVersion, cfg.APIVersion)
			assert.Len(t, cfg.Actions, tc.actions)
			for _, a := range cfg.Actions {
				assert.NotEmpty(t, a.Tasks, "action %q", a.Name)
				assert.NotEmpty(t, a.Events, "action %q", a.Name)
			}
		})
	}
}

// TestParseComplexConfig pins the structure read from the fixture that uses
// most of what JES's own configs used.
func TestParseComplexConfig(t *testing.T) {
	data, err := os.ReadFile(configFixture("complex.yaml"))
	require.NoError(t, err)
	cfg, err := Parse("job/config.yaml", data)
	require.NoError(t, err)

	require.Len(t, cfg.Actions, 2)
	locust := cfg.Actions[0]
	assert.Equal(t, "Smoke test with locust", locust.Name)
	assert.Equal(t, Pos{Line: 5, Column: 5, Path: "actions[0]"}, locust.Pos)
	assert.False(t, locust.Silent)
	require.Len(t, locust.Events, 1)
	assert.Equal(t, "sh.keptn.event.test.triggered", locust.Events[0].Name)
	require.NotNil(t, locust.Events[0].JSONPath)
	assert.Equal(t, "$.test.teststrategy", locust.Events[0].JSONPath.Property)
	assert.Equal(t, "locust", locust.Events[0].JSONPath.Match)

	require.Len(t, locust.Tasks, 1)
	task := locust.Tasks[0]
	assert.Equal(t, "Run the smoke test", task.Name)
	assert.Equal(t, "locustio/locust", task.Image)
	assert.Equal(t, []string{"locust"}, task.Cmd)
	assert.Equal(t, []string{"-f", "/keptn/locust/locustfile.py", "--host", "$(HOST)"}, task.Args)
	assert.Equal(t, []string{"locust/basic.py", "locust/import.py"}, task.Files)
	assert.Equal(t, OnErrorFail, task.OnError)
	require.Len(t, task.Env, 2)
	assert.Equal(t, "HOST", task.Env[0].Name)
	assert.Equal(t, EnvFromEvent, task.Env[0].ValueFrom)
	assert.Equal(t, "$.data.deployment.deploymentURIsLocal[0]", task.Env[0].Value)
	assert.Equal(t, Pos{Line: 25, Column: 13, Path: "actions[0].tasks[0].env[0]"}, task.Env[0].Pos)
	assert.Equal(t, "LocustToken", task.Env[1].Name)
	assert.Equal(t, EnvFromSecret, task.Env[1].ValueFrom)
	require.NotNil(t, task.Resources)
	assert.Equal(t, "1", task.Resources.Limits.Cpu().String())
	assert.Equal(t, "512Mi", task.Resources.Limits.Memory().String())
	assert.Equal(t, "50m", task.Resources.Requests.Cpu().String())
	assert.Equal(t, "128Mi", task.Resources.Requests.Memory().String())
	require.NotNil(t, task.MaxPollDurationSeconds)
	assert.Equal(t, int64(1000), *task.MaxPollDurationSeconds)

	bash := cfg.Actions[1]
	assert.True(t, bash.Silent)
	require.Len(t, bash.Events, 4)
	assert.Nil(t, bash.Events[2].JSONPath)
	assert.Equal(t, []string{"Print a constant", "Print a fetched file"}, []string{bash.Tasks[0].Name, bash.Tasks[1].Name})

	// JES took "LocustToken" as a Secret's name, which Kubernetes cannot
	// have, and ignored value: both parse, both warned. JES also ran
	// actions on .started events; here that name is dead, and warned.
	var warns []string
	for _, w := range cfg.Warnings {
		warns = append(warns, w.Path)
	}
	assert.Equal(t, []string{"actions[0].tasks[0].env[1].name", "actions[0].tasks[0].env[1].value", "actions[1].events[2].name"}, warns)
	assert.True(t, strings.HasPrefix(cfg.Warnings[0].Error(), `job/config.yaml:28:19: actions[0].tasks[0].env[1].name: "LocustToken" is not a valid Secret name`), cfg.Warnings[0].Error())
}
