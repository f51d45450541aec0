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

// The repository's own fixtures (testdata/README.md at its root), relative
// to this package: job configs in the shapes job-executor-service accepted
// (rejected/ holds files it refused), and Keptn events.
const (
	jobConfigs = "../../testdata/jobconfigs/"
	events     = "../../testdata/events/"
)

// rejectedConfigs are the fixtures that are not job configs JES accepted,
// with the first error jobctl must print.
var rejectedConfigs = map[string]string{
	// JES's yaml.v2 refused a mapping for the actions list too.
	"actions-mapping.yaml": "actions-mapping.yaml:2:10: actions: must be a list (got a mapping)",
	// Job label files and shipyards, not job configs.
	"invalid-labels-file.yaml": "invalid-labels-file.yaml:1:1: Bad_Label: unknown field",
	"labels-file.yaml":         "labels-file.yaml:1:1: Team: unknown field",
	"shipyard.yaml":            "shipyard.yaml:1:13: apiVersion: spec.keptn.sh/0.2.2 is not supported, use v2",
}

func fixtureConfigs(t *testing.T) (accepted, rejected []string) {
	t.Helper()
	accepted, err := filepath.Glob(jobConfigs + "*.yaml")
	require.NoError(t, err)
	rejected, err = filepath.Glob(jobConfigs + "rejected/*.yaml")
	require.NoError(t, err)
	require.Len(t, rejected, len(rejectedConfigs), "every rejected fixture is classified here: %v", rejected)
	return accepted, rejected
}

// TestValidateFixturesAccepted validates every config in a shape JES ran,
// in one call.
func TestValidateFixturesAccepted(t *testing.T) {
	accepted, _ := fixtureConfigs(t)
	require.Len(t, accepted, 19)
	r := jobctl(t, "", append([]string{"validate"}, accepted...)...)
	assert.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stdout)
	// Warnings only, each located and marked.
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		assert.Regexp(t, `^\S+\.yaml:\d+:\d+: \S+: warning: `, line)
	}
}

// TestValidateFixturesRejected checks that every rejected fixture fails with
// located errors, the first one exactly as expected.
func TestValidateFixturesRejected(t *testing.T) {
	_, rejected := fixtureConfigs(t)
	for _, f := range rejected {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			r := jobctl(t, "", "validate", f)
			assert.Equal(t, exitInvalid, r.code)
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			assert.Equal(t, jobConfigs+"rejected/"+rejectedConfigs[name], lines[0])
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
			"testdata/bad/fields.yaml:9:26: actions[0].tasks[0].maxPollDuration: must be a positive number of seconds up to 604800 (7 days) (got -5)",
			"testdata/bad/fields.yaml:10:9: actions[0].tasks[0].workspaceSize: set workspaceSize on the action, not on a task: all tasks of an action run in one pod",
		},
		// JES ran actions on other kinds of events, silently; here the
		// action would never run, and validate says so.
		"otherkinds.yaml": {
			"testdata/bad/otherkinds.yaml:5:7: actions[0].events: this action would never run: it matches no .triggered event, and actions run on .triggered events only (job-executor-service also ran them on other kinds, silently; this function does not). Match the .triggered event of the task that should run the Job",
		},
		"duplicates.yaml": {
			`testdata/bad/duplicates.yaml:9:11: actions[1].name: duplicate action name "deploy" (also actions[0], line 3)`,
			"testdata/bad/duplicates.yaml:11:15: actions[1].events[0].name: not a valid regular expression: error parsing regexp: missing closing ): `sh.keptn.event.(deployment.triggered`",
			`testdata/bad/duplicates.yaml:15:17: actions[1].tasks[0].files[0]: the file fetcher would refuse it: invalid resource URI "../secrets.yaml": contains the path element ".."`,
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
	r := jobctl(t, "", "validate", jobConfigs+"cleanup.yaml")
	assert.Equal(t, exitOK, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, jobConfigs+"cleanup.yaml:10:34: actions[0].tasks[0].ttlSecondsAfterFinished: warning: 5 is raised to 60: a finished Job must live long enough to be reported\n", r.stderr)
}

func TestValidateUnreadableFile(t *testing.T) {
	r := jobctl(t, "", "validate", "testdata/bad/fields.yaml", "testdata/missing.yaml")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "jobctl: open testdata/missing.yaml: no such file or directory")
	assert.Contains(t, r.stdout, "testdata/bad/fields.yaml:1:13: ", "the readable file is still validated")
}

func TestValidateJSON(t *testing.T) {
	r := jobctl(t, "", "validate", "-o", "json", "testdata/bad/fields.yaml", jobConfigs+"cleanup.yaml", "testdata/bad/syntax.yaml")
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
	assert.Equal(t, diagnostic{File: jobConfigs + "cleanup.yaml", Line: 10, Column: 34,
		Path: "actions[0].tasks[0].ttlSecondsAfterFinished", Message: "5 is raised to 60: a finished Job must live long enough to be reported", Severity: "warning"}, got[5])
	// A syntax error has no column or path, and still both keys.
	assert.Equal(t, diagnostic{File: "testdata/bad/syntax.yaml", Line: 6, Message: "invalid YAML: did not find expected '-' indicator", Severity: "error"}, got[6])
}

func TestValidateJSONValid(t *testing.T) {
	r := jobctl(t, "", "validate", "-o", "json", jobConfigs+"hello-world.yaml")
	assert.Equal(t, exitOK, r.code)
	assert.Equal(t, "[]\n", r.stdout)
}

// TestValidateMatchesParse checks that the binary reports exactly what
// jobconfig.Parse reports, for every file it is tested with.
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
