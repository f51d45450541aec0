package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinary builds the real static binary once and runs it as the Job
// would: flags, "--", paths, environment, a termination log.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "initcontainer")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	if runtime.GOOS == "linux" {
		ef, err := elf.Open(bin)
		require.NoError(t, err)
		for _, p := range ef.Progs {
			assert.NotEqual(t, elf.PT_INTERP, p.Type, "the binary must be static (no dynamic loader)")
		}
		require.NoError(t, ef.Close())
	}

	f := newFakeKeptn(t)
	jesFiles(f)
	f.snapshot("c1")
	f.put("c1", svc, "small.file", "small at c1\n")
	dir := t.TempDir()
	ws := filepath.Join(dir, "keptn")
	tl := filepath.Join(dir, "termination-log")
	require.NoError(t, os.WriteFile(tl, nil, 0o644))
	environ := []string{"KEPTN_API_URL=" + f.srv.URL, "KEPTN_API_TOKEN=" + testToken}

	cmd := exec.Command(bin, "--project=podtato", "--stage=dev", "--service=helloservice", "--workspace="+ws,
		"--max-bytes=20971520", "--git-commit-id=c1", "--termination-log="+tl, "--", "small.file", "helm")
	cmd.Env = environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr: %s", stderr.String())
	assert.Equal(t, map[string]string{
		"small.file":                     "small at c1\n",
		"helm/Chart.yaml":                "name: podtato\n",
		"helm/values.yaml":               "replicas: 1\n",
		"helm/templates/deployment.yaml": "kind: Deployment\n",
	}, tree(t, ws, 0o644, 0o755))
	assert.NotContains(t, stdout.String()+stderr.String(), testToken)

	cmd = exec.Command(bin, "--project=podtato", "--stage=dev", "--service=helloservice", "--workspace="+ws,
		"--termination-log="+tl, "--", "../escape")
	cmd.Env = environ
	stderr.Reset()
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, exitUnsafePath, exit.ExitCode())
	log, err := os.ReadFile(tl)
	require.NoError(t, err)
	assert.Equal(t, stderr.String(), string(log))
	assert.Contains(t, string(log), `file entry "../escape"`)
}
