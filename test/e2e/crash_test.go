package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// buildFunction builds cmd/function, as the image does.
func buildFunction(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "function")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/keptn-sandbox/job-executor-knative/cmd/function")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// startProcess runs the function binary with env and returns its URL.
func startProcess(t *testing.T, bin string, env map[string]string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, `"address":"`); i >= 0 && strings.Contains(line, `"listening"`) {
				rest := line[i+len(`"address":"`):]
				if j := strings.IndexByte(rest, '"'); j >= 0 {
					addr <- rest[:j]
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("function process did not start listening")
		return nil, ""
	}
}

// A replica killed after claiming a report but before sending it must not
// cost the report, nor double it: its claim expires and another replica's
// sweep sends exactly one .finished.
func TestCompletionReplicaKilledBetweenClaimAndSend(t *testing.T) {
	e := newEnv(t)
	bin := buildFunction(t)
	survivor := e.startFunction("replica-b")
	// The task runs until its deadline, so the Job ends after the delivery
	// has been answered: the survivor's settle step cannot report it.
	e.setConfig(oneTask("", "        image: "+testbed.ImageSleep+"\n        maxPollDuration: 2\n"))
	ce := newTriggered("test", scope, "")
	require.Equal(t, http.StatusAccepted, deliver(t, survivor.url, ce))
	name := e.jobsOf(ce.ID())[0].Name
	waitJobCondition(t, context.Background(), e.kube, e.ns, name, "Failed")

	// The doomed replica's sink never answers, so it is stuck between its
	// claim and the end of its send when it is killed.
	blackhole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client's death.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(blackhole.Close)
	doomed, doomedURL := startProcess(t, bin, map[string]string{
		"KUBECONFIG":         e.functionKubeconfig(),
		"JOB_NAMESPACE":      e.ns,
		"KEPTN_RESOURCE_URL": e.keptn.ResourceServiceURL(),
		"KEPTN_API_TOKEN":    e.keptn.Token(),
		"K_SINK":             blackhole.URL,
		"POD_NAME":           "replica-a",
		"CLAIM_TTL":          "3s",
	})
	// This tick never gets an answer: the replica dies handling it.
	go func() { _, _, _ = post(doomedURL, pingEvent()) }()
	require.Eventually(t, func() bool {
		j := e.jobsOf(ce.ID())[0]
		return strings.HasPrefix(j.Annotations[jobs.AnnotationReportClaim], "replica-a/")
	}, reportWithin, 50*time.Millisecond, "the doomed replica claims the report")
	require.NoError(t, doomed.Process.Signal(syscall.SIGKILL))
	_ = doomed.Wait()

	// Until the claim expires, the survivor leaves the Job alone.
	require.Equal(t, http.StatusAccepted, ping(t, survivor.url))
	assert.Empty(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"))
	time.Sleep(3500 * time.Millisecond)
	require.Equal(t, http.StatusAccepted, ping(t, survivor.url))
	e.waitFinished(ce.ID(), "test", reportWithin)
	require.Equal(t, http.StatusAccepted, ping(t, survivor.url))
	assert.Len(t, e.eventsFor(ce.ID(), "sh.keptn.event.test.finished"), 1)
}
