package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// jobctlBin is the binary built once by TestMain; the tests run it as users
// do, so flags, exit codes and streams are what they get.
var jobctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "jobctl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	jobctlBin = filepath.Join(dir, "jobctl")
	build := exec.Command("go", "build", "-o", jobctlBin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building jobctl:", err)
		_ = os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// jobctl runs the built binary in this package's directory.
func jobctl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(jobctlBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func TestExitCodes(t *testing.T) {
	valid := jobConfigs + "hello-world.yaml"
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"valid config", []string{"validate", valid}, exitOK},
		{"invalid config", []string{"validate", "testdata/bad/fields.yaml"}, exitInvalid},
		{"one of two invalid", []string{"validate", valid, "testdata/bad/fields.yaml"}, exitInvalid},
		{"no files", []string{"validate"}, exitUsage},
		{"missing file", []string{"validate", "testdata/does-not-exist.yaml"}, exitUsage},
		{"missing file wins over invalid", []string{"validate", "testdata/bad/fields.yaml", "testdata/does-not-exist.yaml"}, exitUsage},
		{"bad output format", []string{"validate", "-o", "xml", valid}, exitUsage},
		{"unknown flag", []string{"validate", "--strict", valid}, exitUsage},
		{"unknown command", []string{"valdate", valid}, exitUsage},
		{"render without event", []string{"render", "--config", valid}, exitUsage},
		{"render bad level", []string{"render", "--config", valid, "--event", "testdata/render/test.triggered.json", "--level", "branch"}, exitUsage},
		{"render", []string{"render", "--config", valid, "--event", "testdata/render/test.triggered.json"}, exitOK},
		{"render invalid config", []string{"render", "--config", "testdata/bad/fields.yaml", "--event", "testdata/render/test.triggered.json"}, exitInvalid},
		{"render failing action", []string{"render", "--config", "testdata/render/partial.config.yaml", "--event", "testdata/render/test.triggered.json"}, exitInvalid},
		{"render malformed event", []string{"render", "--config", valid, "--event", events + "deployment.triggered.api-request.json"}, exitInvalid},
		{"event without project", []string{"event", "test", "--stage", "dev", "--service", "carts"}, exitUsage},
		{"event bad task", []string{"event", "test.x", "--project", "p", "--stage", "s", "--service", "v"}, exitUsage},
		{"completion unknown shell", []string{"completion", "tcsh"}, exitUsage},
		{"version", []string{"version"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jobctl(t, "", tt.args...)
			assert.Equal(t, tt.code, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		})
	}
}

func TestUsageErrorsPointToHelp(t *testing.T) {
	r := jobctl(t, "", "valdate", "x.yaml")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `unknown command "valdate"`)
	assert.Contains(t, r.stderr, "validate", "suggests the right command")
	assert.Contains(t, r.stderr, "Run 'jobctl --help' for usage.")
	assert.Empty(t, r.stdout)
}

var commands = []string{"validate", "render", "event", "completion", "version"}

func TestHelpMentionsEveryCommand(t *testing.T) {
	r := jobctl(t, "", "--help")
	require.Equal(t, exitOK, r.code)
	for _, c := range commands {
		assert.Regexp(t, `(?m)^\s+`+c+`\s`, r.stdout, "jobctl --help lists %s", c)
	}
	assert.Contains(t, r.stdout, "Examples:")
}

func TestEveryCommandHasExamples(t *testing.T) {
	for _, c := range commands {
		t.Run(c, func(t *testing.T) {
			r := jobctl(t, "", c, "--help")
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, "Examples:\n  ")
			assert.Contains(t, r.stdout, "jobctl "+c, "the examples use the command")
		})
	}
}

func TestEventHelpShowsCurl(t *testing.T) {
	r := jobctl(t, "", "event", "--help")
	assert.Contains(t, r.stdout, "curl -X POST -H 'Content-Type: application/cloudevents+json' --data @event.json http://localhost:8080/")
}

func TestRenderHelpListsEverySetting(t *testing.T) {
	r := jobctl(t, "", "render", "--help")
	for _, s := range jobs.SettingsTable {
		assert.Contains(t, r.stdout, "  "+s.Key+" ", "render --help documents %s", s.Key)
	}
}

func TestCompletion(t *testing.T) {
	markers := map[string]string{
		"bash": "complete -o default -F __start_jobctl jobctl",
		"zsh":  "#compdef jobctl",
		"fish": "complete -c jobctl",
	}
	for shell, marker := range markers {
		t.Run(shell, func(t *testing.T) {
			r := jobctl(t, "", "completion", shell)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, marker)
		})
	}
}

// TestCompletionCandidates asks the binary what the shell scripts ask it
// (cobra's hidden __complete command).
func TestCompletionCandidates(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", ""}, commands},
		{[]string{"__complete", "validate", "-o", ""}, []string{"text", "json"}},
		{[]string{"__complete", "render", "--level", ""}, levels},
		{[]string{"__complete", "event", ""}, []string{"test", "deployment"}},
		{[]string{"__complete", "completion", ""}, []string{"bash", "zsh", "fish"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := jobctl(t, "", tt.args...)
			require.Equal(t, exitOK, r.code, r.stderr)
			var got []string
			for _, line := range strings.Split(r.stdout, "\n") {
				if line != "" && !strings.HasPrefix(line, ":") {
					got = append(got, strings.SplitN(line, "\t", 2)[0])
				}
			}
			for _, w := range tt.want {
				assert.Contains(t, got, w)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := jobctl(t, "", "version")
	require.Equal(t, exitOK, r.code)
	assert.Regexp(t, `^jobctl \S+ .*go1\.\d+.* \w+/\w+\n$`, r.stdout)
}
