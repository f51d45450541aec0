package realnode

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// TestRealNodeDeadline has the Job's deadline kill a sleeping task.
func TestRealNodeDeadline(t *testing.T) {
	w := newWorld(t, "")
	w.commit(oneTask(testbed.RealToolsImage, `        cmd: [sleep, "600"]
        maxPollDuration: 5
`), nil)
	fin := w.run("test")
	assert.Equal(t, "fail", fin.Data["result"])
	assert.Contains(t, fin.Data["message"], "DeadlineExceeded")
}

// TestRealNodeOOMKilled has the memory limit kill a task that keeps
// allocating; the kernel's OOM kill is reported as OOMKilled.
func TestRealNodeOOMKilled(t *testing.T) {
	w := newWorld(t, "")
	// tail buffers a "line" that never ends: it grows until killed.
	w.commit(oneTask(testbed.RealToolsImage, `        cmd: [tail, /dev/zero]
        resources:
          limits:
            memory: 32Mi
          requests:
            memory: 32Mi
`), nil)
	fin := w.run("test")
	assert.Equal(t, "fail", fin.Data["result"])
	msg, _ := fin.Data["message"].(string)
	assert.Contains(t, msg, "OOMKilled")
	assert.Contains(t, msg, "137")
}

// TestRealNodeRootImageRefused runs an image built to run as root: the
// restricted context runs it as the operator's user with a read-only root,
// so what it wanted root for fails at run time, reported with its output.
func TestRealNodeRootImageRefused(t *testing.T) {
	w := newWorld(t, "")
	w.commit(oneTask(testbed.RealRootImage, `        cmd: [sh, -c, 'echo "running as uid $(id -u)"; touch /etc/installed-as-root']
`), nil)
	fin := w.run("test")
	assert.Equal(t, "fail", fin.Data["result"])
	msg, _ := fin.Data["message"].(string)
	assert.Contains(t, msg, "running as uid 1000")
	assert.Contains(t, msg, "Read-only file system")
	assert.Contains(t, msg, "exit code 1")
}

// TestRealNodeFetcherWrongToken gives the fetcher a token Keptn refuses
// (behind the api-gateway, which checks x-token on resources too): its exit
// code (7) and message come from the real container.
func TestRealNodeFetcherWrongToken(t *testing.T) {
	w := newWorld(t, "not-the-token", keptnstandin.WithGateway(true))
	w.commit(oneTask(testbed.RealToolsImage, `        files: [small.file]
        cmd: [cat, /keptn/small.file]
`), map[string]string{"small.file": "small\n"})
	fin := w.run("test")
	assert.Equal(t, "fail", fin.Data["result"])
	msg, _ := fin.Data["message"].(string)
	assert.Contains(t, msg, "fetch-files")
	assert.Contains(t, msg, "exit code 7")
	assert.Contains(t, msg, "Keptn refused the credentials (HTTP 401)")
}
