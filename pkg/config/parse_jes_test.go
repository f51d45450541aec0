package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jesData is job-executor-service's own example and test data, shared with
// every developer and CI at ../shared from the project's root.
const jesData = "../../../shared/reference/jes/data"

// TestParseJESData checks every YAML file of JES's data: the job configs JES
// accepted parse without error, and the files JES rejected as job configs
// are rejected with the same reason. A new file in the folder fails the test
// until it is classified here.
func TestParseJESData(t *testing.T) {
	tests := map[string]struct {
		actions int    // for configs JES accepted
		err     string // first error, for the files JES rejected
	}{
		"docs__example__jobconfig.yaml":                    {actions: 1},
		"pkg__config__config_test.go__complexConfig.yaml":  {actions: 2},
		"pkg__config__config_test.go__simpleConfig.yaml":   {actions: 1},
		"pkg__file__file_test.go__simpleConfig.yaml":       {actions: 1},
		"test__data__config.yaml":                          {actions: 2},
		"test__data__e2e__envvar.config.yaml":              {actions: 1},
		"test__data__e2e__files.config.yaml":               {actions: 1},
		"test__data__e2e__folder.config.yaml":              {actions: 1},
		"test__data__e2e__gitcommitid.config.yaml":         {actions: 1},
		"test__data__e2e__helloworld.config.yaml":          {actions: 1},
		"test__data__e2e__job-egress.config.yaml":          {actions: 3},
		"test__data__e2e__jobcleanup.0ttl.config.yaml":     {actions: 1},
		"test__data__e2e__jobcleanup.config.yaml":          {actions: 1},
		"test__data__e2e__jobconfig.project.config.yaml":   {actions: 1},
		"test__data__e2e__jobconfig.service-1.config.yaml": {actions: 1},
		"test__data__e2e__jobconfig.stage-dev.config.yaml": {actions: 1},
		"test__data__e2e__locust.config.yaml":              {actions: 1},
		"test__data__e2e__nginx.config.yaml":               {actions: 1},
		"test__data__e2e__taskdeadline.config.yaml":        {actions: 1},
		// JES's yaml.v2 refused a mapping for the actions list too ("cannot
		// unmarshal !!map into []config.Action"); its no-ingress e2e test
		// only needed a config that runs nothing.
		"test__data__e2e__empty.config.yaml": {err: "test__data__e2e__empty.config.yaml:2:10: actions: must be a list (got a mapping)"},
		// Job label files and shipyards, not job configs.
		"test__data__invalid-user-defined-labels.yaml":      {err: "test__data__invalid-user-defined-labels.yaml:1:1: Test_InvalidLabel: unknown field"},
		"test__data__user-defined-labels.yaml":              {err: "test__data__user-defined-labels.yaml:1:1: Label: unknown field"},
		"docs__example__shipyard.yaml":                      {err: "docs__example__shipyard.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__envvar.deployment.yaml":       {err: "test__shipyard__e2e__envvar.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__files.deployment.yaml":        {err: "test__shipyard__e2e__files.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__folder.deployment.yaml":       {err: "test__shipyard__e2e__folder.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__helloworld.deployment.yaml":   {err: "test__shipyard__e2e__helloworld.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__job-egress.deployment.yaml":   {err: "test__shipyard__e2e__job-egress.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__jobcleanup.deployment.yaml":   {err: "test__shipyard__e2e__jobcleanup.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__jobconfig.deployment.yaml":    {err: "test__shipyard__e2e__jobconfig.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__locust.deployment.yaml":       {err: "test__shipyard__e2e__locust.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__nginx.deployment.yaml":        {err: "test__shipyard__e2e__nginx.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__noingress.deployment.yaml":    {err: "test__shipyard__e2e__noingress.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
		"test__shipyard__e2e__taskdeadline.deployment.yaml": {err: "test__shipyard__e2e__taskdeadline.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2"},
	}

	files, err := filepath.Glob(filepath.Join(jesData, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "JES data not found at %s", jesData)
	for _, f := range files {
		_, ok := tests[filepath.Base(f)]
		assert.True(t, ok, "%s is not classified in this test", filepath.Base(f))
	}

	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(jesData, name))
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

// TestParseJESComplexConfig pins the structure read from JES's most complete
// unit-test config.
func TestParseJESComplexConfig(t *testing.T) {
	name := "pkg__config__config_test.go__complexConfig.yaml"
	data, err := os.ReadFile(filepath.Join(jesData, name))
	require.NoError(t, err)
	cfg, err := Parse("job/config.yaml", data)
	require.NoError(t, err)

	require.Len(t, cfg.Actions, 2)
	locust := cfg.Actions[0]
	assert.Equal(t, "Run locust", locust.Name)
	assert.Equal(t, Pos{Line: 3, Column: 5, Path: "actions[0]"}, locust.Pos)
	assert.False(t, locust.Silent)
	require.Len(t, locust.Events, 1)
	assert.Equal(t, "sh.keptn.event.test.triggered", locust.Events[0].Name)
	require.NotNil(t, locust.Events[0].JSONPath)
	assert.Equal(t, "$.test.teststrategy", locust.Events[0].JSONPath.Property)
	assert.Equal(t, "locust", locust.Events[0].JSONPath.Match)

	require.Len(t, locust.Tasks, 1)
	task := locust.Tasks[0]
	assert.Equal(t, "Run locust smoke tests", task.Name)
	assert.Equal(t, "locustio/locust", task.Image)
	assert.Equal(t, []string{"locust"}, task.Cmd)
	assert.Equal(t, []string{"-f", "/keptn/locust/locustfile.py", "--host", "$(HOST)"}, task.Args)
	assert.Equal(t, []string{"locust/basic.py", "locust/import.py"}, task.Files)
	assert.Equal(t, OnErrorFail, task.OnError)
	require.Len(t, task.Env, 2)
	assert.Equal(t, "HOST", task.Env[0].Name)
	assert.Equal(t, EnvFromEvent, task.Env[0].ValueFrom)
	assert.Equal(t, "$.data.deployment.deploymentURIsLocal[0]", task.Env[0].Value)
	assert.Equal(t, Pos{Line: 23, Column: 13, Path: "actions[0].tasks[0].env[0]"}, task.Env[0].Pos)
	assert.Equal(t, "LocustSecret", task.Env[1].Name)
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
	assert.Equal(t, []string{"Run static world", "Run hello world"}, []string{bash.Tasks[0].Name, bash.Tasks[1].Name})

	// JES took "LocustSecret" as a Secret's name, which Kubernetes cannot
	// have, and ignored value: both parse, both warned.
	var warns []string
	for _, w := range cfg.Warnings {
		warns = append(warns, w.Path)
	}
	assert.Equal(t, []string{"actions[0].tasks[0].env[1].name", "actions[0].tasks[0].env[1].value"}, warns)
	assert.True(t, strings.HasPrefix(cfg.Warnings[0].Error(), `job/config.yaml:26:19: actions[0].tasks[0].env[1].name: "LocustSecret" is not a valid Secret name`), cfg.Warnings[0].Error())
}
