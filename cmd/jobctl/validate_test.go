package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jesData is job-executor-service's own example and test data (see
// /work/shared/README.md), relative to this package.
const jesData = "../../../shared/reference/jes/data/"

// jesRejected are the YAML files of JES's data that are not job configs JES
// accepted, with the first error jobctl must print. Every other YAML file
// there is a config JES ran, which must validate.
var jesRejected = map[string]string{
	// JES's yaml.v2 refused a mapping for the actions list too.
	"test__data__e2e__empty.config.yaml": "test__data__e2e__empty.config.yaml:2:10: actions: must be a list (got a mapping)",
	// Job label files and shipyards, not job configs.
	"test__data__invalid-user-defined-labels.yaml":      "test__data__invalid-user-defined-labels.yaml:1:1: Test_InvalidLabel: unknown field",
	"test__data__user-defined-labels.yaml":              "test__data__user-defined-labels.yaml:1:1: Label: unknown field",
	"docs__example__shipyard.yaml":                      "docs__example__shipyard.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__envvar.deployment.yaml":       "test__shipyard__e2e__envvar.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__files.deployment.yaml":        "test__shipyard__e2e__files.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__folder.deployment.yaml":       "test__shipyard__e2e__folder.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__helloworld.deployment.yaml":   "test__shipyard__e2e__helloworld.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__job-egress.deployment.yaml":   "test__shipyard__e2e__job-egress.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__jobcleanup.deployment.yaml":   "test__shipyard__e2e__jobcleanup.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__jobconfig.deployment.yaml":    "test__shipyard__e2e__jobconfig.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__locust.deployment.yaml":       "test__shipyard__e2e__locust.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__nginx.deployment.yaml":        "test__shipyard__e2e__nginx.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__noingress.deployment.yaml":    "test__shipyard__e2e__noingress.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
	"test__shipyard__e2e__taskdeadline.deployment.yaml": "test__shipyard__e2e__taskdeadline.deployment.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
}

func jesYAML(t *testing.T) (accepted, rejected []string) {
	t.Helper()
	files, err := filepath.Glob(jesData + "*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files, "JES data not found at %s", jesData)
	for _, f := range files {
		if _, ok := jesRejected[filepath.Base(f)]; ok {
			rejected = append(rejected, f)
		} else {
			accepted = append(accepted, f)
		}
	}
	require.Len(t, rejected, len(jesRejected), "a rejected file is missing from the data")
	return accepted, rejected
}

// TestValidateJESAccepted validates every config JES ran, in one call.
func TestValidateJESAccepted(t *testing.T) {
	accepted, _ := jesYAML(t)
	require.Len(t, accepted, 19)
	r := jobctl(t, "", append([]string{"validate"}, accepted...)...)
	assert.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stdout)
	// Warnings only, each located and marked.
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		assert.Regexp(t, `^\S+\.yaml:\d+:\d+: \S+: warning: `, line)
	}
}

// TestValidateJESRejected checks that every other file fails with located
// errors, the first one exactly as expected.
func TestValidateJESRejected(t *testing.T) {
	_, rejected := jesYAML(t)
	for _, f := range rejected {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			r := jobctl(t, "", "validate", f)
			assert.Equal(t, exitInvalid, r.code)
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			assert.Equal(t, jesData+jesRejected[name], lines[0])
			for _, l := range lines {
				assert.Regexp(t, `^`+regexpQuote(f)+`:\d+:\d+: \S+: \S`, l, "every error is located")
			}
		})
	}
}

func regexpQuote(s string) string {
	r := strings.NewReplacer(".", `\.`, "+", `\+`, "(", `\(`, ")", `\)`)
	return r.Replace(s)
}

// TestValidateBadConfigs pins the exact output for configs with mistakes
// users make.
func TestValidateBadConfigs(t *testing.T) {
	tests := map[string][]string{
		"syntax.yaml": {
			// yaml.v3 names the line where the block starts.
			"testdata/bad/syntax.yaml:6: invalid YAML: did not find expected '-' indicator",
		},
		"fields.yaml": {
			"testdata/bad/fields.yaml:1:13: apiVersion: v1 is not supported, use v2",
			"testdata/bad/fields.yaml:3:5: actions[0].name: required: every action needs a name (Jobs, reports and the file fetcher refer to it)",
			`testdata/bad/fields.yaml:8:26: actions[0].tasks[0].imagePullPolicy: must be one of Always, Never, IfNotPresent (got "Sometimes")`,
			"testdata/bad/fields.yaml:9:26: actions[0].tasks[0].maxPollDuration: must be a positive number of seconds (got -5)",
			"testdata/bad/fields.yaml:10:9: actions[0].tasks[0].workspaceSize: set workspaceSize on the action, not on a task: all tasks of an action run in one pod",
		},
		"duplicates.yaml": {
			`testdata/bad/duplicates.yaml:9:11: actions[1].name: duplicate action name "deploy" (also actions[0], line 3)`,
			"testdata/bad/duplicates.yaml:11:15: actions[1].events[0].name: not a valid regular expression: error parsing regexp: missing closing ): `sh.keptn.event.(deployment.triggered`",
			`testdata/bad/duplicates.yaml:15:17: actions[1].tasks[0].files[0]: must not contain "." or ".." segments (got "../secrets.yaml")`,
			"testdata/bad/duplicates.yaml:18:20: actions[1].tasks[0].env[0].value: not a valid JSONPath expression: parsing error: $.data[?(\t:1:10 - 1:10 unexpected EOF while scanning extensions",
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			r := jobctl(t, "", "validate", "testdata/bad/"+name)
			assert.Equal(t, exitInvalid, r.code)
			assert.Equal(t, strings.Join(want, "\n")+"\n", r.stdout)
			assert.Empty(t, r.stderr)
		})
	}
}

func TestValidateWarningsGoToStderr(t *testing.T) {
	r := jobctl(t, "", "validate", jesData+"test__data__e2e__jobcleanup.config.yaml")
	assert.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, jesData+"test__data__e2e__jobcleanup.config.yaml:8:34: actions[0].tasks[0].ttlSecondsAfterFinished: warning: 5 is raised to 60: a finished Job must live long enough to be reported\n", r.stderr)
}

func TestValidateUnreadableFile(t *testing.T) {
	r := jobctl(t, "", "validate", "testdata/bad/fields.yaml", "testdata/missing.yaml")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "jobctl: open testdata/missing.yaml: no such file or directory")
	assert.Contains(t, r.stdout, "testdata/bad/fields.yaml:1:13: ", "the readable file is still validated")
}

func TestValidateJSON(t *testing.T) {
	r := jobctl(t, "", "validate", "-o", "json", "testdata/bad/fields.yaml", jesData+"test__data__e2e__jobcleanup.config.yaml", "testdata/bad/syntax.yaml")
	assert.Equal(t, exitInvalid, r.code)
	assert.Empty(t, r.stderr, "in json mode warnings are in the array")

	// Every object has exactly the six keys, with the right JSON types.
	var raw []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &raw))
	require.Len(t, raw, 7)
	for _, d := range raw {
		assert.Len(t, d, 6)
		for _, k := range []string{"file", "path", "message", "severity"} {
			assert.IsType(t, "", d[k], k)
		}
		for _, k := range []string{"line", "column"} {
			assert.IsType(t, float64(0), d[k], k)
		}
	}

	var got []diagnostic
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Equal(t, diagnostic{File: "testdata/bad/fields.yaml", Line: 1, Column: 13, Path: "apiVersion", Message: "v1 is not supported, use v2", Severity: "error"}, got[0])
	assert.Equal(t, diagnostic{File: jesData + "test__data__e2e__jobcleanup.config.yaml", Line: 8, Column: 34,
		Path: "actions[0].tasks[0].ttlSecondsAfterFinished", Message: "5 is raised to 60: a finished Job must live long enough to be reported", Severity: "warning"}, got[5])
	// A syntax error has no column or path, and still both keys.
	assert.Equal(t, diagnostic{File: "testdata/bad/syntax.yaml", Line: 6, Message: "invalid YAML: did not find expected '-' indicator", Severity: "error"}, got[6])
}

func TestValidateJSONValid(t *testing.T) {
	r := jobctl(t, "", "validate", "-o", "json", jesData+"test__data__e2e__helloworld.config.yaml")
	assert.Equal(t, exitOK, r.code)
	assert.Equal(t, "[]\n", r.stdout)
}

// TestValidateMatchesParse checks that the binary reports exactly what
// config.Parse reports, for every file it is tested with.
func TestValidateMatchesParse(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		_, errs, _ := checkConfig(f, data)
		require.NotEmpty(t, errs)
		r := jobctl(t, "", "validate", f)
		assert.Equal(t, errs.Error()+"\n", r.stdout)
	}
}
