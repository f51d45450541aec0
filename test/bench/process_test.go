package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Packages built as the image builds them (make build: static, trimmed,
// stripped), so sizes and start times are those of the shipped binary.
const (
	functionPkg = "github.com/keptn-sandbox/job-executor-knative/cmd/function"
	floorPkg    = "github.com/keptn-sandbox/job-executor-knative/test/bench/floor"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds the function and the floor program once per test binary
// into the cache (go build skips the link when a binary is up to date).
func binaries(tb testing.TB) (function, floor string) {
	tb.Helper()
	buildOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			buildErr = err
			return
		}
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			cache = x
		}
		buildDir = filepath.Join(cache, "job-executor-knative", "bench")
		if buildErr = os.MkdirAll(buildDir, 0o755); buildErr != nil {
			return
		}
		for name, pkg := range map[string]string{"function": functionPkg, "floor": floorPkg} {
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(buildDir, name), pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "function"), filepath.Join(buildDir, "floor")
}

// process is a started program serving HTTP on loopback.
type process struct {
	cmd      *exec.Cmd
	started  time.Time
	url      string
	metrics  string // the function's /metrics URL; empty for the floor
	logPath  string
	stopOnce sync.Once
}

// freePort returns a loopback port that was free a moment ago.
func freePort(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(tb, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startProcess runs bin with env only (as in a container), listening on a
// free loopback port; withMetrics adds the function's metrics listener.
// The process is killed at cleanup and dies with the test binary.
func startProcess(tb testing.TB, bin string, env map[string]string, withMetrics bool) *process {
	tb.Helper()
	port := freePort(tb)
	args := []string{"--listen", "127.0.0.1:" + port}
	p := &process{url: "http://127.0.0.1:" + port}
	if withMetrics {
		mport := freePort(tb)
		args = append(args, "--metrics-listen", "127.0.0.1:"+mport)
		p.metrics = "http://127.0.0.1:" + mport + "/metrics"
	}
	p.cmd = exec.Command(bin, args...)
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logFile, err := os.CreateTemp(tb.TempDir(), filepath.Base(bin)+"-*.log")
	must(tb, err)
	p.logPath = logFile.Name()
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.started = time.Now()
	must(tb, p.cmd.Start())
	tb.Cleanup(func() {
		p.stop()
		logFile.Close()
		if tb.Failed() {
			if b, err := os.ReadFile(p.logPath); err == nil {
				tb.Logf("%s output:\n%s", filepath.Base(bin), tail(string(b), 40))
			}
		}
	})
	return p
}

// stop kills the process and reaps it; it may be called again.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
}

// waitReady polls /health/readiness until it answers 200 and returns the
// time since the process was started.
func (p *process) waitReady(tb testing.TB) time.Duration {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := p.started.Add(30 * time.Second)
	for {
		resp, err := client.Get(p.url + "/health/readiness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.started)
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.logPath)
			tb.Fatalf("%s not ready after 30 s: %v\n%s", p.cmd.Path, err, tail(string(b), 20))
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// memory reads the process's resident set size now and at its peak from
// /proc.
func (p *process) memory(tb testing.TB) (rss, peak int64) {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	must(tb, err)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	if rss == 0 {
		tb.Fatalf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
	}
	return rss, peak
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ctxFor is a context bounded by d, cancelled at cleanup.
func ctxFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
