package main

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type result struct {
	code           int
	stdout, stderr string
	ws             string
	termLog        string
}

// runIC runs the real main logic in-process against f with the usual
// arguments of the Job builder plus extra.
func runIC(t *testing.T, f *fakeKeptn, env map[string]string, extra ...string) result {
	t.Helper()
	dir := t.TempDir()
	ws := filepath.Join(dir, "keptn")
	tl := filepath.Join(dir, "termination-log")
	require.NoError(t, os.WriteFile(tl, nil, 0o644)) // kubelet provides it
	e := map[string]string{"KEPTN_API_TOKEN": testToken}
	if f != nil {
		e["KEPTN_API_URL"] = f.srv.URL
	}
	for k, v := range env {
		e[k] = v
	}
	args := append([]string{
		"--project=podtato", "--stage=dev", "--service=helloservice",
		"--workspace=" + ws, "--termination-log=" + tl, "--retry-initial=1ms",
	}, extra...)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return e[k] }, &stdout, &stderr)
	log, err := os.ReadFile(tl)
	require.NoError(t, err)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String(), ws: ws, termLog: string(log)}
	assert.NotContains(t, r.stdout+r.stderr+r.termLog, testToken, "the token must never be printed")
	if code != exitOK {
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "exactly one error line: %q", r.stderr)
		assert.Equal(t, r.stderr, r.termLog, "the termination log holds the same line")
	} else {
		assert.Empty(t, r.stderr)
	}
	return r
}

// tree reads every file below dir as "path" -> content and checks modes.
func tree(t *testing.T, dir string, fileMode, dirMode fs.FileMode) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		info, err := d.Info()
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		switch {
		case p == dir:
		case d.IsDir():
			assert.Equal(t, dirMode, info.Mode().Perm(), "mode of %s", rel)
		case info.Mode().IsRegular():
			assert.Equal(t, fileMode, info.Mode().Perm(), "mode of %s", rel)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			out[filepath.ToSlash(rel)] = string(b)
		default:
			t.Errorf("unexpected %s in workspace: %v", rel, info.Mode())
		}
		return nil
	})
	if os.IsNotExist(err) {
		return out
	}
	require.NoError(t, err)
	return out
}

const (
	svc   = "podtato/dev/helloservice"
	stage = "podtato/dev"
	proj  = "podtato"
)

// jesFiles is the JES "files" and "folder" e2e data: three files, one in a
// nested folder, and a helm chart folder.
func jesFiles(f *fakeKeptn) {
	f.put(headRev, svc, "small.file", "small\n")
	f.put(headRev, svc, "folder/file.py", "print('hi')\n")
	f.put(headRev, svc, "folder/big.file", strings.Repeat("0123456789abcdef", 4096))
	f.put(headRev, svc, "helm/Chart.yaml", "name: podtato\n")
	f.put(headRev, svc, "helm/values.yaml", "replicas: 1\n")
	f.put(headRev, svc, "helm/templates/deployment.yaml", "kind: Deployment\n")
	f.put(headRev, svc, "helmet.txt", "not in the helm folder\n")
	f.put(headRev, svc, "job/config.yaml", "apiVersion: v2\n")
}

func TestFetchFiles(t *testing.T) {
	f := newFakeKeptn(t)
	jesFiles(f)
	r := runIC(t, f, nil, "--", "small.file", "/folder/file.py", "folder/big.file")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, map[string]string{
		"small.file":      "small\n",
		"folder/file.py":  "print('hi')\n",
		"folder/big.file": strings.Repeat("0123456789abcdef", 4096),
	}, tree(t, r.ws, 0o644, 0o755))
	assert.Contains(t, r.stdout, "fetched 3 files")
	for _, tok := range f.tokens {
		assert.Equal(t, testToken, tok)
	}
}

func TestFetchFolder(t *testing.T) {
	for _, arg := range []string{"helm", "helm/", "/helm/"} {
		t.Run(arg, func(t *testing.T) {
			f := newFakeKeptn(t)
			jesFiles(f)
			r := runIC(t, f, nil, "--", arg)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, map[string]string{
				"helm/Chart.yaml":                "name: podtato\n",
				"helm/values.yaml":               "replicas: 1\n",
				"helm/templates/deployment.yaml": "kind: Deployment\n",
			}, tree(t, r.ws, 0o644, 0o755))
		})
	}
}

func TestFetchFileAndItsFolderTogether(t *testing.T) {
	f := newFakeKeptn(t)
	jesFiles(f)
	r := runIC(t, f, nil, "--", "folder", "folder/file.py", "folder")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Len(t, tree(t, r.ws, 0o644, 0o755), 2)
}

func TestFetchAtCommit(t *testing.T) {
	f := newFakeKeptn(t)
	f.put(headRev, svc, "small.file", "head version")
	f.put("c1", svc, "small.file", "commit version")
	f.put(headRev, svc, "helm/a.yaml", "head a")
	f.put(headRev, svc, "helm/added-later.yaml", "only at head")
	f.put("c1", svc, "helm/a.yaml", "commit a")
	f.put(headRev, proj, "project.txt", "project head")
	f.put("c1", proj, "project.txt", "must not be read at the commit")

	r := runIC(t, f, nil, "--git-commit-id=c1", "--", "small.file", "helm", "project.txt")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, map[string]string{
		"small.file":  "commit version",
		"helm/a.yaml": "commit a",
		"project.txt": "project head",
	}, tree(t, r.ws, 0o644, 0o755))
	assert.Contains(t, r.stdout, "skipping helm/added-later.yaml")
	assert.Contains(t, f.requestLog(), "/v1/project/podtato/stage/dev/service/helloservice/resource/small.file?gitCommitID=c1")
	assert.Contains(t, f.requestLog(), "/v1/project/podtato/resource/project.txt", "project level is read without the commit")
}

func TestFetchFallback(t *testing.T) {
	f := newFakeKeptn(t)
	f.put(headRev, stage, "stage.txt", "from stage")
	f.put(headRev, svc, "both.txt", "from service")
	f.put(headRev, stage, "both.txt", "from stage")
	f.put(headRev, proj, "proj.txt", "from project")
	f.put(headRev, proj, "scripts/run.sh", "#!/bin/sh\n")
	f.put(headRev, stage, "conf/a", "stage a")
	f.put(headRev, proj, "conf/b", "project b: folders are not merged across levels")

	r := runIC(t, f, nil, "--", "stage.txt", "both.txt", "proj.txt", "scripts/", "conf")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, map[string]string{
		"stage.txt":      "from stage",
		"both.txt":       "from service",
		"proj.txt":       "from project",
		"scripts/run.sh": "#!/bin/sh\n",
		"conf/a":         "stage a",
	}, tree(t, r.ws, 0o644, 0o755))
	assert.Contains(t, r.stdout, "fetched stage.txt (10 bytes) from the stage level")
	assert.Contains(t, r.stdout, "fetched proj.txt (12 bytes) from the project level")
}

func TestFetchThroughGateway(t *testing.T) {
	f := newFakeKeptn(t)
	jesFiles(f)
	r := runIC(t, f, map[string]string{"KEPTN_API_URL": f.srv.URL + "/api/resource-service"}, "--", "folder/file.py", "helm/templates")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, map[string]string{
		"folder/file.py":                 "print('hi')\n",
		"helm/templates/deployment.yaml": "kind: Deployment\n",
	}, tree(t, r.ws, 0o644, 0o755))
	assert.Contains(t, f.requestLog(), "/api/resource-service/v1/project/podtato/stage/dev/service/helloservice/resource/folder%252Ffile.py")
}

func TestFetchNotFound(t *testing.T) {
	f := newFakeKeptn(t)
	jesFiles(f)
	r := runIC(t, f, nil, "--", "small.file", "missing.txt")
	assert.Equal(t, exitNotFound, r.code)
	assert.Contains(t, r.stderr, `initcontainer: keptn resource not found: "missing.txt" is no file or folder at the service, stage or project level`)

	r = runIC(t, f, nil, "--", "small.file/")
	assert.Equal(t, exitNotFound, r.code, "a trailing slash asks for a folder only")
	assert.Contains(t, r.stderr, "is no folder")
}

func TestUnsafeArguments(t *testing.T) {
	for _, arg := range []string{"../etc/passwd", "folder/../../x", "//etc/passwd", "./x", "a//b", `..\x`, "/", "a\nb"} {
		t.Run(arg, func(t *testing.T) {
			f := newFakeKeptn(t)
			jesFiles(f)
			r := runIC(t, f, nil, "--", "small.file", arg)
			assert.Equal(t, exitUnsafePath, r.code, r.stderr)
			assert.Contains(t, r.stderr, "invalid resource URI")
			assert.Empty(t, f.requestLog(), "nothing is fetched when an argument is unsafe")
		})
	}
}

func TestUnsafeURIsFromServer(t *testing.T) {
	for _, bad := range []string{"/helm/../../../etc/passwd", "/helm//x", "helm/./x", "/helm/a\\..\\..\\b"} {
		t.Run(bad, func(t *testing.T) {
			f := newFakeKeptn(t)
			jesFiles(f)
			f.listExtra[svc] = []string{bad}
			r := runIC(t, f, nil, "--", "helm")
			assert.Equal(t, exitUnsafePath, r.code, r.stderr)
			assert.Contains(t, r.stderr, "unsafe path: Keptn listed")
			assert.Empty(t, tree(t, r.ws, 0o644, 0o755), "nothing is written from a poisoned listing")
		})
	}
}

func TestSymlinkInWorkspace(t *testing.T) {
	f := newFakeKeptn(t)
	jesFiles(f)
	outside := t.TempDir()
	dir := t.TempDir()
	ws := filepath.Join(dir, "keptn")
	require.NoError(t, os.MkdirAll(ws, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(ws, "folder")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "x"), filepath.Join(ws, "small.file")))

	for _, arg := range []string{"folder/file.py", "small.file"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"--project=podtato", "--stage=dev", "--service=helloservice", "--workspace=" + ws, "--termination-log=", arg},
			env{"KEPTN_API_URL": f.srv.URL}.get, &stdout, &stderr)
		assert.Equal(t, exitUnsafePath, code, stderr.String())
		assert.Contains(t, stderr.String(), "is a symlink")
	}
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing was written through the symlinks")
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

func TestWorkspaceLimit(t *testing.T) {
	f := newFakeKeptn(t)
	jesFiles(f)
	// small.file: 1 block; folder/: 1 block; file.py: 1 block; big.file (64 KiB): 16 blocks.
	t.Run("fits exactly", func(t *testing.T) {
		r := runIC(t, f, nil, "--max-bytes=77824", "--", "small.file", "folder/file.py", "folder/big.file")
		assert.Equal(t, exitOK, r.code, r.stderr)
	})
	t.Run("stops before exceeding", func(t *testing.T) {
		r := runIC(t, f, nil, "--max-bytes=77823", "--", "small.file", "folder/file.py", "folder/big.file")
		assert.Equal(t, exitLimit, r.code)
		assert.Contains(t, r.stderr, `workspace size limit: "folder/big.file" (65536 bytes) needs 65536 bytes of disk, 12288 of 77823 are used`)
		assert.Equal(t, map[string]string{"small.file": "small\n", "folder/file.py": "print('hi')\n"}, tree(t, r.ws, 0o644, 0o755),
			"the file that would cross the limit is not written")
	})
}

func TestRetriesTransientErrors(t *testing.T) {
	f := newFakeKeptn(t)
	jesFiles(f)
	f.failNext = 3
	r := runIC(t, f, nil, "--", "small.file")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, 3, strings.Count(r.stdout, "retrying in"))
	assert.Equal(t, map[string]string{"small.file": "small\n"}, tree(t, r.ws, 0o644, 0o755))
}

func TestExitCodesForKeptnFailures(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   int
		msg    string
	}{
		{"unauthorized", 401, exitAuth, "refused the credentials (HTTP 401)"},
		{"forbidden", 403, exitAuth, "HTTP 403"},
		{"bad request", 400, exitKeptnError, "unexpected HTTP 400"},
		{"persistent 503", 503, exitUnreachable, "deadline reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKeptn(t)
			f.status = tt.status
			r := runIC(t, f, nil, "--timeout=50ms", "--", "small.file")
			assert.Equal(t, tt.want, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.msg)
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		r := runIC(t, nil, map[string]string{"KEPTN_API_URL": "http://" + addr}, "--timeout=50ms", "--", "small.file")
		assert.Equal(t, exitUnreachable, r.code, r.stderr)
		assert.Contains(t, r.stderr, "connection refused")
	})
}

func TestUsage(t *testing.T) {
	f := newFakeKeptn(t)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		msg  string
	}{
		{"no URL", map[string]string{"KEPTN_API_URL": ""}, []string{"x"}, "KEPTN_API_URL is not set"},
		{"bad insecure flag", map[string]string{"KEPTN_API_INSECURE_SKIP_VERIFY": "yes please"}, []string{"x"}, "is not a boolean"},
		{"bad escaping", map[string]string{"KEPTN_API_ESCAPING": "triple"}, []string{"x"}, `unknown escaping "triple"`},
		{"CA and insecure", map[string]string{"KEPTN_API_INSECURE_SKIP_VERIFY": "true", "KEPTN_API_CA_FILE": "/dev/null"}, []string{"x"}, "contradict each other"},
		{"CA file without PEM", map[string]string{"KEPTN_API_CA_FILE": "/dev/null"}, []string{"x"}, "no PEM certificate"},
		{"credentials in URL", map[string]string{"KEPTN_API_URL": "http://u:" + testToken + "@127.0.0.1:1"}, []string{"x"}, "must not carry credentials"},
		{"unknown flag", nil, []string{"--nope"}, "flag provided but not defined"},
		{"negative limit", nil, []string{"--max-bytes=-1"}, "negative"},
		{"bad scope", nil, []string{"--service=a/b", "x"}, `service "a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runIC(t, f, tt.env, tt.args...)
			assert.Equal(t, exitUsage, r.code)
			assert.Contains(t, r.stderr, tt.msg)
		})
	}
	t.Run("missing scope", func(t *testing.T) {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"--project=p", "--termination-log=", "x"}, env{"KEPTN_API_URL": f.srv.URL}.get, &bytes.Buffer{}, &stderr)
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, stderr.String(), "--project, --stage and --service are required")
	})
	assert.Empty(t, f.requestLog())
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--help"}, env{}.get, &stdout, &stderr)
	assert.Equal(t, exitOK, code)
	for _, want := range []string{
		"KEPTN_API_URL", "KEPTN_API_TOKEN", "KEPTN_API_CA_FILE", "KEPTN_API_INSECURE_SKIP_VERIFY", "KEPTN_API_ESCAPING",
		"-project", "-stage", "-service", "-git-commit-id", "-workspace", "-max-bytes", "-timeout", "-termination-log",
		"0  all entries fetched", "8  Keptn answered unexpectedly",
	} {
		assert.Contains(t, stdout.String(), want)
	}
	assert.Empty(t, stderr.String())
}

func TestGroupWritable(t *testing.T) {
	f := newFakeKeptn(t)
	jesFiles(f)
	r := runIC(t, f, nil, "--group-writable", "--", "folder/file.py")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Len(t, tree(t, r.ws, 0o664, 0o775), 1)
}

func TestNoEntries(t *testing.T) {
	f := newFakeKeptn(t)
	r := runIC(t, f, nil)
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "no files to fetch")
	assert.Empty(t, f.requestLog())
}
