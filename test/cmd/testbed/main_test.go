package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRejectsUnknownCommands(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"up", "extra"}, {"tool"}, {"tool", "bogus"}, {"tool", "golangci-lint", "extra"}} {
		if err := run(args); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}

func TestStateRunningIgnoresStaleOrForeignPIDs(t *testing.T) {
	st := state{dir: t.TempDir()}
	if _, ok := st.running(); ok {
		t.Error("running() with no pid file = true")
	}
	for _, content := range []string{"not a pid", "0", "999999999", "1"} {
		if err := os.WriteFile(filepath.Join(st.dir, "testbed.pid"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok := st.running(); ok {
			t.Errorf("running() with pid file %q = true, want false (not a live testbed process)", content)
		}
	}
}

func TestDownWithoutClusterIsANoOp(t *testing.T) {
	if err := down(state{dir: t.TempDir()}); err != nil {
		t.Errorf("down without a cluster: %v", err)
	}
}
