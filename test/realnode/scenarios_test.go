package realnode

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/test/harness"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// TestRealNodeHelloWorld runs the seed's Hello World: the greeting in
// .finished is what the container printed.
func TestRealNodeHelloWorld(t *testing.T) {
	w := newWorld(t, "")
	w.commit(tools(harness.Fixture(t, "jobconfigs/hello-world.yaml")), nil)
	fin := w.run("deployment")
	assert.Equal(t, "succeeded", fin.Data["status"])
	assert.Equal(t, "pass", fin.Data["result"])
	assert.Contains(t, fin.Data["message"], "Hello World")
}

// TestRealNodeFilesAndFolders has the real fetcher, in its pod, fetch files
// and a folder from the stand-in over the pod network; the task reads them
// from /keptn and prints their checksums.
func TestRealNodeFilesAndFolders(t *testing.T) {
	w := newWorld(t, "")
	config := `apiVersion: v2
actions:
  - name: "Read fetched files"
    events:
      - name: "sh.keptn.event.deployment.triggered"
    tasks:
      - name: "read"
        image: "` + testbed.RealToolsImage + `"
        files:
          - small.file
          - folder/file.py
          - helm
        cmd: [sh, -c, 'cd /keptn && find . -type f | sort && cat small.file folder/file.py helm/values.yaml && sha256sum helm/templates/big.yaml']
`
	big := strings.Repeat("0123456789abcdef", 40<<10)
	w.commit(config, map[string]string{
		"small.file":                "small\n",
		"folder/file.py":            "print('hello')\n",
		"folder/other.py":           "not listed, so not fetched\n",
		"helm/values.yaml":          "replicas: 1\n",
		"helm/templates/big.yaml":   big,
		"helmet/not-in-folder.yaml": "a prefix is not a folder\n",
	})
	fin := w.run("deployment")
	assert.Equal(t, "pass", fin.Data["result"], "%v", fin.Data)
	msg, _ := fin.Data["message"].(string)
	for _, want := range []string{"./small.file", "./folder/file.py", "./helm/values.yaml", "./helm/templates/big.yaml",
		"small", "print('hello')", "replicas: 1", sha256hex(big) + "  helm/templates/big.yaml"} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "other.py")
	assert.NotContains(t, msg, "helmet")
}

// TestRealNodeFailingTask reports a task's real exit code and log.
func TestRealNodeFailingTask(t *testing.T) {
	w := newWorld(t, "")
	w.commit(oneTask(testbed.RealToolsImage, `        cmd: [sh, -c, 'echo "AssertionError: expected 200, got 503"; exit 3']
`), nil)
	fin := w.run("test")
	assert.Equal(t, "fail", fin.Data["result"])
	msg, _ := fin.Data["message"].(string)
	assert.Contains(t, msg, "exit code 3")
	assert.Contains(t, msg, "AssertionError: expected 200, got 503")
}

// TestRealNodeTerminationMessage turns the JSON a task leaves in
// /dev/termination-log into structured results of .finished.
func TestRealNodeTerminationMessage(t *testing.T) {
	w := newWorld(t, "")
	w.commit(oneTask(testbed.RealToolsImage, `        cmd: [sh, -c, 'echo "{\"result\":\"warning\",\"sli\":{\"passed\":12,\"error_rate\":0.01}}" > /dev/termination-log']
`), nil)
	fin := w.run("test")
	// The task's JSON is merged under its name and may set the result.
	assert.Equal(t, "warning", fin.Data["result"], "%v", fin.Data)
	run, ok := fin.Data["run"].(map[string]any)
	require.True(t, ok, "data carries the task's result under its name: %v", fin.Data)
	assert.Equal(t, map[string]any{"passed": float64(12), "error_rate": 0.01}, run["sli"])
}
