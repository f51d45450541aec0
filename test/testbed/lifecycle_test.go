package testbed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
)

// These tests start beds of their own (not the shared one of Main), so they
// can watch them end.

func startPrivateBed(t *testing.T) *Bed {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bed, err := Start(ctx, Options{Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	return bed
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestStopLeavesNoProcessPortOrDirectory(t *testing.T) {
	bed := startPrivateBed(t)
	t.Cleanup(bed.Stop) // in case an assertion below stops the test early

	src := &sourcesv1.ApiServerSource{
		ObjectMeta: metav1.ObjectMeta{Name: "jobs", Namespace: "default"},
		Spec: sourcesv1.ApiServerSourceSpec{
			EventMode: sourcesv1.ResourceMode,
			Resources: []sourcesv1.APIVersionKindSelector{{APIVersion: "batch/v1", Kind: "Job"}},
		},
	}
	if _, err := bed.StartAdapter(context.Background(), src, "http://127.0.0.1:9/"); err != nil {
		t.Fatal(err)
	}
	pids := bed.PIDs()
	if len(pids) != 6 {
		t.Fatalf("bed runs %d processes, want 6 (etcd, apiserver, controller-manager, scheduler, kwok, adapter)", len(pids))
	}
	for _, pid := range pids {
		if !processAlive(pid) {
			t.Fatalf("process %d is not running before Stop", pid)
		}
	}
	apiserver, err := url.Parse(bed.RESTConfig().Host)
	if err != nil {
		t.Fatal(err)
	}
	dir := bed.Dir()

	bed.Stop()

	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("process %d still alive after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bed directory %s still there after Stop (stat: %v)", dir, err)
	}
	l, err := net.Listen("tcp", apiserver.Host)
	if err != nil {
		t.Errorf("apiserver address %s still taken after Stop: %v", apiserver.Host, err)
	} else {
		_ = l.Close()
	}
}

const crashHelperEnv = "JEK_TESTBED_CRASH_HELPER"

// TestCrashHelper is run by TestPanickingTestBinaryTakesItsBedAlong in a
// child process: it starts a bed, reports it and panics, as a broken test
// would.
func TestCrashHelper(t *testing.T) {
	if os.Getenv(crashHelperEnv) == "" {
		t.Skip("helper for TestPanickingTestBinaryTakesItsBedAlong")
	}
	bed, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	report, _ := json.Marshal(map[string]any{"pids": bed.PIDs(), "dir": bed.Dir()})
	fmt.Printf("BED %s\n", report)
	panic("simulated panic in a test, with the bed still up")
}

func TestPanickingTestBinaryTakesItsBedAlong(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane; skipped with -short")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("helper should have died of its panic, got err %v; stderr:\n%s", err, stderr.String())
	}
	var report struct {
		PIDs []int  `json:"pids"`
		Dir  string `json:"dir"`
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "BED "); ok {
			if err := json.Unmarshal([]byte(line), &report); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(report.PIDs) != 5 {
		t.Fatalf("helper reported %d processes, want 5; stdout:\n%s\nstderr:\n%s", len(report.PIDs), out, stderr.String())
	}

	// The kernel delivers the parent-death signal as the helper exits; the
	// orphans are then reaped by init. Wait for that, bounded.
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range report.PIDs {
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if processAlive(pid) {
			t.Errorf("process %d outlived the panicking test binary", pid)
		}
	}

	// The helper could not remove its directory; the next bed does.
	if _, err := os.Stat(report.Dir); err != nil {
		t.Fatalf("helper's directory %s: %v", report.Dir, err)
	}
	sweepStaleDirs()
	if _, err := os.Stat(report.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale directory %s not swept (stat: %v)", report.Dir, err)
	}
}
