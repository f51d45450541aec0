package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runGeneric runs the fetcher as a generic Job's init container does: the
// event in K_EVENT and a ConfigMap-like directory (keys as symlinks into
// ..data, as the kubelet lays them out) at JOB_FILES_DIR.
func runGeneric(t *testing.T, event string, keys map[string]string, entries ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	data := filepath.Join(files, "..2026_12_01")
	require.NoError(t, os.MkdirAll(data, 0o755))
	require.NoError(t, os.Symlink("..2026_12_01", filepath.Join(files, "..data")))
	for k, v := range keys {
		require.NoError(t, os.WriteFile(filepath.Join(data, k), []byte(v), 0o644))
		require.NoError(t, os.Symlink(filepath.Join("..data", k), filepath.Join(files, k)))
	}
	env := map[string]string{eventEnv: event, filesDirEnv: files}
	ws := filepath.Join(dir, "keptn")
	args := append([]string{"--generic", "--workspace=" + ws, "--max-bytes=65536", "--"}, entries...)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, ws, stderr.String()
}

func TestGenericFetcher(t *testing.T) {
	const ev = `{"specversion":"1.0","id":"e-1","source":"ci","type":"com.example.build","data":{"n":"$(X)"}}`
	tests := []struct {
		name     string
		event    string
		keys     map[string]string
		entries  []string
		wantCode int
		wantErr  string
		want     map[string]string
	}{
		{name: "event only", event: ev, want: map[string]string{"event.json": ev}},
		{name: "event and files", event: ev, keys: map[string]string{"Makefile": "all:\n", "run.sh": "echo\n"}, entries: []string{"Makefile", "run.sh"},
			want: map[string]string{"event.json": ev, "Makefile": "all:\n", "run.sh": "echo\n"}},
		{name: "missing key", event: ev, entries: []string{"Makefile"}, wantCode: exitNotFound, wantErr: `file entry "Makefile": no such key`},
		{name: "a path is not a key", event: ev, entries: []string{"../etc/passwd"}, wantCode: exitUnsafePath, wantErr: "not a ConfigMap key"},
		{name: "the data link is not a key", event: ev, entries: []string{"..data"}, wantCode: exitUnsafePath, wantErr: "not a ConfigMap key"},
		{name: "no event", event: "", wantCode: exitUsage, wantErr: "K_EVENT is not set"},
		{name: "over the workspace", event: strings.Repeat("x", 70000), wantCode: exitLimit, wantErr: "workspace size limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ws, stderr := runGeneric(t, tt.event, tt.keys, tt.entries...)
			require.Equal(t, tt.wantCode, code, stderr)
			if tt.wantErr != "" {
				assert.Contains(t, stderr, tt.wantErr)
				return
			}
			for name, content := range tt.want {
				b, err := os.ReadFile(filepath.Join(ws, name))
				require.NoError(t, err)
				assert.Equal(t, content, string(b))
			}
		})
	}
}

func TestIsConfigMapKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"Makefile", true}, {"run.sh", true}, {".env", true}, {"a-b_c.d", true},
		{"", false}, {".", false}, {"..", false}, {"..data", false}, {"a/b", false}, {"a b", false}, {strings.Repeat("a", 254), false},
	}
	for _, tt := range tests {
		if got := isConfigMapKey(tt.key); got != tt.want {
			t.Errorf("isConfigMapKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

// FuzzIsConfigMapKey: a key is always one plain name inside the mount.
func FuzzIsConfigMapKey(f *testing.F) {
	for _, s := range []string{"Makefile", "..data", "a/b", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if !isConfigMapKey(k) {
			return
		}
		if filepath.Base(k) != k || filepath.Clean(k) != k || strings.HasPrefix(k, "..") || len(k) > 253 {
			t.Fatalf("%q accepted but not a plain name", k)
		}
	})
}
