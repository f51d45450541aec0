package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// built is the function binary as the image has it, static and stripped,
// built once by TestMain for the tests that run it ("" with -short).
var built string

func buildFunction(t *testing.T) string {
	t.Helper()
	if built == "" {
		t.Skip("builds the function binary: not with -short")
	}
	return built
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "function-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	built = filepath.Join(dir, "function")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", built, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// The packages the function links allocate more in their init functions
// than the collector's first heap goal; pkg/coldstart holds the collector
// off so that no collection competes with the cold start. --help exits
// from main, so everything it prints is from before the function serves.
func TestNoCollectionRunsBeforeMain(t *testing.T) {
	bin := buildFunction(t)
	cmd := exec.Command(bin, "--help")
	cmd.Env = []string{"GODEBUG=gctrace=1,inittrace=1"}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var allocated int
	var initialised []string
	for _, line := range strings.Split(string(out), "\n") {
		assert.False(t, strings.HasPrefix(line, "gc "), "a collection ran before main: %s", line)
		// init <package> @<t> ms, <d> ms clock, <n> bytes, <m> allocs
		f := strings.Fields(line)
		if len(f) >= 9 && f[0] == "init" && f[8] == "bytes," {
			n, err := strconv.Atoi(f[7])
			require.NoError(t, err, line)
			allocated += n
			initialised = append(initialised, f[1])
		}
	}
	require.Contains(t, initialised, "github.com/keptn-sandbox/job-executor-knative/pkg/coldstart", "inittrace lists the package that turns the collector off")
	t.Logf("package initialisation allocated %d bytes in %d packages", allocated, len(initialised))
}

// Once the function serves, the collector runs with GOGC's setting: the
// default, or what the operator asked for.
func TestTheCollectorRunsAsGOGCSaysOnceServing(t *testing.T) {
	bin := buildFunction(t)
	// runtime/metrics reports off (-1) as an unsigned integer.
	for gogc, want := range map[string]string{"": "100", "50": "50", "off": "1.8446744073709552e+19"} {
		t.Run("GOGC="+gogc, func(t *testing.T) {
			metrics := startFunction(t, bin, "GOGC="+gogc)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, metrics, nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Contains(t, strings.Split(string(body), "\n"), "go_gc_gogc_percent "+want)
		})
	}
}

// startFunction starts bin with a kubeconfig and a Keptn it never calls
// (the start makes no request) and returns its /metrics URL once it
// listens.
func startFunction(t *testing.T, bin string, env ...string) string {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: unused}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	cmd.Env = append([]string{"KUBECONFIG=" + kubeconfig, "JOB_NAMESPACE=default",
		"KEPTN_API_URL=http://127.0.0.1:1", "KEPTN_API_TOKEN=unused"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	metrics := make(chan string, 1)
	go func() {
		var address string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Address string }
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line.Msg {
			case "serving metrics":
				address = line.Address
			case "listening":
				metrics <- "http://" + address + "/metrics"
			}
		}
	}()
	select {
	case url := <-metrics:
		return url
	case <-time.After(30 * time.Second):
		t.Fatal("the function did not start listening")
		return ""
	}
}
