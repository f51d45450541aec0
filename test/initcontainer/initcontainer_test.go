package initcontainer

// These tests run the real initcontainer binary against the Keptn stand-in
// (test/keptnstandin) and compare the workspace byte for byte.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/test/fetcher"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
)

// binPath is the product's static binary, built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "initcontainer-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if binPath, err = fetcher.Build(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	icProject = "e2e-files"
	icStage   = "dev"
	icService = "files-svc"
	svcDir    = "project/" + icProject + "/stage/" + icStage + "/service/" + icService + "/resource/"
	stageDir  = "project/" + icProject + "/stage/" + icStage + "/resource/"
	projDir   = "project/" + icProject + "/resource/"
)

// bigFile is near the ~767 KiB JES measured as the largest single resource,
// with every byte value in it.
func bigFile() []byte {
	b := make([]byte, 700<<10)
	for i := range b {
		b[i] = byte(i*31 + i/251)
	}
	return b
}

// jesRepo is the data of JES's "files" and "folder" e2e scenarios
// (test/data/e2e/files.config.yaml, folder.config.yaml) plus files at the
// stage and project levels.
func jesRepo() map[string][]byte {
	return map[string][]byte{
		svcDir + "job/config.yaml":                []byte("apiVersion: v2\n"),
		svcDir + "small.file":                     []byte("small file\n"),
		svcDir + "folder/file.py":                 []byte("print('hello from a file')\n"),
		svcDir + "folder/big.file":                bigFile(),
		svcDir + "helm/Chart.yaml":                []byte("apiVersion: v2\nname: files-svc\n"),
		svcDir + "helm/values.yaml":               []byte("replicaCount: 1\n"),
		svcDir + "helm/templates/deployment.yaml": []byte("kind: Deployment\n"),
		svcDir + "helm-notes.txt":                 []byte("a sibling, not in helm/\n"),
		stageDir + "stage-only.txt":               []byte("from the stage\n"),
		projDir + "scripts/run.sh":                []byte("#!/bin/sh\necho project\n"),
		projDir + "project-only.txt":              []byte("from the project\n"),
	}
}

type icRun struct {
	code           int
	stdout, stderr string
	termLog        string
	ws             string
}

func runInitcontainer(t *testing.T, s *keptnstandin.Server, env map[string]string, args ...string) icRun {
	t.Helper()
	dir := t.TempDir()
	ws := filepath.Join(dir, "keptn")
	tl := filepath.Join(dir, "termination-log")
	require.NoError(t, os.WriteFile(tl, nil, 0o644))
	full := append([]string{
		"--project=" + icProject, "--stage=" + icStage, "--service=" + icService,
		"--workspace=" + ws, "--termination-log=" + tl, "--retry-initial=1ms",
	}, args...)
	cmd := exec.Command(binPath, full...)
	cmd.Env = []string{"KEPTN_API_URL=" + s.ResourceServiceURL(), "KEPTN_API_TOKEN=" + s.Token()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
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
	log, err := os.ReadFile(tl)
	require.NoError(t, err)
	r := icRun{code: code, stdout: stdout.String(), stderr: stderr.String(), termLog: string(log), ws: ws}
	assert.NotContains(t, r.stdout+r.stderr, s.Token(), "the token is never printed")
	if code != 0 {
		assert.Equal(t, r.stderr, r.termLog, "one error line, also in the termination log")
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"))
	}
	return r
}

// workspaceTree reads every regular file below dir; anything else fails.
func workspaceTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return out
	}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		require.True(t, d.Type().IsRegular(), "%s is not a regular file", p)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	}))
	return out
}

// pick returns the given layout paths of repo as workspace paths.
func pick(repo map[string][]byte, prefix string, uris ...string) map[string][]byte {
	out := map[string][]byte{}
	for _, u := range uris {
		out[u] = repo[prefix+u]
	}
	return out
}

func standin(t *testing.T, gateway bool) *keptnstandin.Server {
	t.Helper()
	s := keptnstandin.NewStarted(t, keptnstandin.WithGateway(gateway))
	t.Cleanup(func() {
		for _, v := range s.ContractViolations() {
			t.Errorf("contract violation: %v", v)
		}
	})
	return s
}

func TestInitcontainerFilesScenario(t *testing.T) {
	for _, gateway := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "gateway"}[gateway], func(t *testing.T) {
			s := standin(t, gateway)
			repo := jesRepo()
			s.Commit(repo)
			r := runInitcontainer(t, s, nil, "--max-bytes=20971520", "--", "small.file", "folder/file.py", "folder/big.file")
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, pick(repo, svcDir, "small.file", "folder/file.py", "folder/big.file"), workspaceTree(t, r.ws))
		})
	}
}

func TestInitcontainerFolderScenario(t *testing.T) {
	for _, gateway := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "gateway"}[gateway], func(t *testing.T) {
			s := standin(t, gateway)
			repo := jesRepo()
			s.Commit(repo)
			r := runInitcontainer(t, s, nil, "--", "helm")
			require.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, pick(repo, svcDir, "helm/Chart.yaml", "helm/values.yaml", "helm/templates/deployment.yaml"), workspaceTree(t, r.ws))
		})
	}
}

func TestInitcontainerGitCommitID(t *testing.T) {
	s := standin(t, false)
	first := jesRepo()
	first[svcDir+"small.file"] = []byte("small file at the first commit\n")
	first[projDir+"project-only.txt"] = []byte("project at the first commit\n")
	c1 := s.Commit(first)
	second := jesRepo()
	second[svcDir+"helm/added-later.yaml"] = []byte("not at c1\n")
	s.Commit(second)

	r := runInitcontainer(t, s, nil, "--git-commit-id="+c1, "--", "small.file", "helm", "project-only.txt")
	require.Equal(t, 0, r.code, r.stderr)
	want := pick(first, svcDir, "small.file", "helm/Chart.yaml", "helm/values.yaml", "helm/templates/deployment.yaml")
	// The project level is read without the commit, i.e. at HEAD.
	want["project-only.txt"] = second[projDir+"project-only.txt"]
	assert.Equal(t, want, workspaceTree(t, r.ws))
	assert.Contains(t, r.stdout, "skipping helm/added-later.yaml")
}

func TestInitcontainerFallback(t *testing.T) {
	s := standin(t, true)
	repo := jesRepo()
	head := s.Commit(repo)
	r := runInitcontainer(t, s, nil, "--git-commit-id="+head, "--", "stage-only.txt", "project-only.txt", "scripts/")
	require.Equal(t, 0, r.code, r.stderr)
	want := pick(repo, stageDir, "stage-only.txt")
	for k, v := range pick(repo, projDir, "project-only.txt", "scripts/run.sh") {
		want[k] = v
	}
	assert.Equal(t, want, workspaceTree(t, r.ws))
	assert.Contains(t, r.stdout, "from the stage level")
	assert.Contains(t, r.stdout, "from the project level")
}

func TestInitcontainerFailures(t *testing.T) {
	tests := []struct {
		name    string
		gateway bool
		setup   func(s *keptnstandin.Server, repo map[string][]byte)
		env     map[string]string
		args    []string
		code    int
		msg     string
	}{
		{name: "not found", args: []string{"--", "small.file", "nowhere.txt"}, code: 3, msg: `"nowhere.txt" is no file or folder`},
		{name: "traversal in an argument", args: []string{"--", "../../etc/passwd"}, code: 4, msg: "invalid resource URI"},
		{name: "absolute argument", args: []string{"--", "//etc/passwd"}, code: 4, msg: "absolute path"},
		{
			name: "traversal in a listed URI",
			setup: func(s *keptnstandin.Server, repo map[string][]byte) {
				repo[svcDir+`helm/a\..\..\..\escape`] = []byte("x")
			},
			args: []string{"--", "helm"}, code: 4, msg: "unsafe path: Keptn listed",
		},
		{name: "size limit", args: []string{"--max-bytes=409600", "--", "small.file", "folder/big.file"}, code: 5, msg: "workspace size limit"},
		{
			name:  "Keptn down",
			setup: func(s *keptnstandin.Server, _ map[string][]byte) { s.SetDown(true) },
			args:  []string{"--timeout=200ms", "--", "small.file"}, code: 6, msg: "deadline reached",
		},
		{name: "wrong token at the gateway", gateway: true, env: map[string]string{"KEPTN_API_TOKEN": "wrong"}, args: []string{"--", "small.file"}, code: 7, msg: "HTTP 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := standin(t, tt.gateway)
			repo := jesRepo()
			if tt.setup != nil {
				tt.setup(s, repo)
			}
			s.Commit(repo)
			r := runInitcontainer(t, s, tt.env, tt.args...)
			assert.Equal(t, tt.code, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.msg)
			if tt.code == 5 {
				assert.Equal(t, pick(repo, svcDir, "small.file"), workspaceTree(t, r.ws), "stopped before the file that would cross the limit")
			}
			if tt.code == 4 {
				assert.Empty(t, workspaceTree(t, r.ws))
			}
		})
	}
}
