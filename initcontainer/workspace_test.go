package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEntry(t *testing.T) {
	tests := []struct {
		arg    string
		want   entry
		unsafe bool
	}{
		{arg: "small.file", want: entry{arg: "small.file", uri: "small.file"}},
		{arg: "/folder/file.py", want: entry{arg: "/folder/file.py", uri: "folder/file.py"}},
		{arg: "helm/", want: entry{arg: "helm/", uri: "helm", folderOnly: true}},
		{arg: "/helm/", want: entry{arg: "/helm/", uri: "helm", folderOnly: true}},
		{arg: "helm//", unsafe: true},
		{arg: "/", unsafe: true},
		{arg: "", unsafe: true},
		{arg: "../x", unsafe: true},
		{arg: "//abs", unsafe: true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := parseEntry(tt.arg)
			if tt.unsafe {
				assert.Equal(t, exitUnsafePath, exitCode(err), "%v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWorkspaceConflicts(t *testing.T) {
	ws, err := openWorkspace(t.TempDir(), 0, false)
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.write("a", []byte("file")))
	err = ws.write("a/b", []byte("under a file"))
	assert.Equal(t, exitUnsafePath, exitCode(err))
	assert.ErrorContains(t, err, "is a file but a folder of that name is needed")

	require.NoError(t, ws.write("d/x", []byte("x")))
	err = ws.write("d", []byte("over a folder"))
	assert.Equal(t, exitUnsafePath, exitCode(err))
	assert.ErrorContains(t, err, "not a regular file")

	// Rewriting a file (a restarted init container) replaces it.
	require.NoError(t, ws.write("a", []byte("again")))
	b, err := os.ReadFile(filepath.Join(ws.dir, "a"))
	require.NoError(t, err)
	assert.Equal(t, "again", string(b))
}

func TestWorkspaceAccounting(t *testing.T) {
	ws, err := openWorkspace(t.TempDir(), 3*blockSize, false)
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.write("empty", nil))                // 0 blocks
	require.NoError(t, ws.write("d/one", []byte("1")))        // dir + 1 block
	require.NoError(t, ws.write("d/two", make([]byte, 4096))) // 1 block
	assert.Equal(t, int64(3*blockSize), ws.used)
	err = ws.write("d/three", []byte("3"))
	assert.True(t, errors.Is(err, errLimit))
	assert.Equal(t, exitLimit, exitCode(err))
	_, statErr := os.Stat(filepath.Join(ws.dir, "d", "three"))
	assert.True(t, os.IsNotExist(statErr))
}

// FuzzWorkspaceWrite: whatever the PATH argument, an accepted one lands
// inside the workspace, and nothing appears next to it.
func FuzzWorkspaceWrite(f *testing.F) {
	for _, s := range []string{"a", "/a/b", "a/", "../x", "a/../../x", "//x", "a/./b", `a\..\b`, "..", "...", "a/..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		parent := t.TempDir()
		wsDir := filepath.Join(parent, "ws")
		e, err := parseEntry(arg)
		if err != nil {
			if exitCode(err) != exitUnsafePath {
				t.Fatalf("parseEntry(%q) failed with exit %d: %v", arg, exitCode(err), err)
			}
			return
		}
		ws, err := openWorkspace(wsDir, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		werr := ws.write(e.uri, []byte("x"))
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "ws" {
			t.Fatalf("writing %q created something outside the workspace: %v", arg, entries)
		}
		if werr == nil {
			b, err := os.ReadFile(filepath.Join(wsDir, filepath.FromSlash(e.uri)))
			if err != nil || string(b) != "x" {
				t.Fatalf("%q: written file not found at %s: %v", arg, e.uri, err)
			}
			if strings.Contains(e.uri, "..") && strings.Contains("/"+e.uri+"/", "/../") {
				t.Fatalf("%q: accepted a parent reference", arg)
			}
		}
	})
}
