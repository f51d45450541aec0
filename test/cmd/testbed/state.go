package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// state is the directory through which up, serve and down meet.
type state struct{ dir string }

func (s state) pidFile() string    { return filepath.Join(s.dir, "testbed.pid") }
func (s state) readyFile() string  { return filepath.Join(s.dir, "ready") }
func (s state) logFile() string    { return filepath.Join(s.dir, "testbed.log") }
func (s state) clusterDir() string { return filepath.Join(s.dir, "cluster") }

// running returns the pid of the cluster process and whether it is alive.
// The command line is checked too, so a recycled pid is not mistaken for it.
func (s state) running() (int, bool) {
	data, err := os.ReadFile(s.pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("testbed")) {
		return pid, false
	}
	return pid, alive(pid)
}

// reset clears what a previous cluster left, so every cluster starts empty.
func (s state) reset() error {
	if err := os.RemoveAll(s.clusterDir()); err != nil {
		return err
	}
	_ = os.Remove(s.readyFile())
	return os.MkdirAll(s.dir, 0o755)
}

func up(ctx context.Context, st state) error {
	if pid, ok := st.running(); ok {
		if kubeconfig, err := os.ReadFile(st.readyFile()); err == nil {
			fmt.Fprintf(os.Stderr, "testbed: already running (pid %d)\n", pid)
			fmt.Println(string(kubeconfig))
			return nil
		}
		return fmt.Errorf("cluster process %d is running but not ready; see %s", pid, st.logFile())
	}
	// Build in the foreground so the user sees the (first, long) build.
	if _, err := testbed.EnsureBinaries(ctx, os.Stderr); err != nil {
		return err
	}
	if err := st.reset(); err != nil {
		return err
	}
	logf, err := os.Create(st.logFile())
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "serve", "-state", st.dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A session of its own: the cluster outlives this command and the
	// terminal's signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(5 * time.Minute)
	for {
		if kubeconfig, err := os.ReadFile(st.readyFile()); err == nil {
			fmt.Fprintf(os.Stderr, "testbed: cluster running (pid %d); stop it with `testbed down`\n", cmd.Process.Pid)
			fmt.Println(string(kubeconfig))
			return nil
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(st.logFile())
			return fmt.Errorf("cluster process exited (%v):\n%s", err, log) //nolint:errorlint // err may be nil: it is shown, not wrapped
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return fmt.Errorf("cluster not ready after 5 minutes; see %s", st.logFile())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// down stops the cluster process; it stops its components before exiting,
// and they would die with it anyway through their parent-death signal.
func down(st state) error {
	pid, ok := st.running()
	if !ok {
		_ = os.Remove(st.pidFile())
		_ = os.Remove(st.readyFile())
		fmt.Fprintln(os.Stderr, "testbed: no cluster running")
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	for range 300 {
		if !alive(pid) {
			fmt.Fprintf(os.Stderr, "testbed: stopped cluster (pid %d)\n", pid)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return fmt.Errorf("cluster process %d did not stop within 30s; killed it", pid)
}

// alive reports whether pid is a live process (not a zombie).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}
