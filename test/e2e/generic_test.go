package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/test/eventsink"
	"github.com/keptn-sandbox/job-executor-knative/test/harness"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// The generic mode (docs/generic.md): events are posted straight to the
// function, as the dispatcher of an operator's own Trigger would; the
// Broker plumbing of these tests carries the shipped Keptn Trigger only.

const genericFilesConfigMap = "job-files"

// genericEnv is an env whose function runs generic events from a config
// in GENERIC_CONFIG_DIR, with GENERIC_CONFIGMAP in the job namespace and
// the results going to sink.
type genericEnv struct {
	*env
	sink *eventsink.Sink
}

func newGenericEnv(t *testing.T, restricted bool, config string, files map[string]string) *genericEnv {
	t.Helper()
	e := newEnv(t)
	if restricted {
		e.ns = restrictedNamespace(t)
		e.prepareNamespace(e.ns)
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o600))
	_, err := e.kube.CoreV1().ConfigMaps(e.ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: genericFilesConfigMap},
		Data:       files,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	g := &genericEnv{env: e, sink: eventsink.New(t)}
	e.extraEnv["GENERIC_CONFIG_DIR"] = dir
	e.extraEnv["GENERIC_CONFIGMAP"] = genericFilesConfigMap
	e.extraEnv["GENERIC_SINK"] = g.sink.URL()
	return g
}

func genericConfig(image string) string {
	return `apiVersion: v2
actions:
  - name: "Build"
    events:
      - name: "com.example.build.requested"
        jsonpath:
          property: "$.data.branch"
          match: "main"
    tasks:
      - name: "compile"
        image: "` + image + `"
        cmd: [sh, -c, "make"]
        env:
          - name: REPO
            value: "$.data.repo"
            valueFrom: event
          - name: SUBJECT
            value: "$.subject"
            valueFrom: event
`
}

func newGeneric(data map[string]any) event.Event {
	if _, ok := data["repo"]; !ok {
		data["repo"] = "shop"
	}
	return harness.GenericEvent("com.example.build.requested", "https://ci.example.com/pipelines/7", "commit/4f2a", data)
}

// waitResult waits for the result event of the triggering event id.
func (g *genericEnv) waitResult(id string) event.Event {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), reportWithin)
	defer cancel()
	ev, err := g.sink.WaitFor(ctx, func(ev event.Event) bool { return ev.Extensions()[generic.ExtTriggerID] == id })
	require.NoError(g.t, err, "no result event for %s", id)
	return ev
}

// resultsFor counts the result events of the triggering event id.
func (g *genericEnv) resultsFor(id string) int {
	n := 0
	for _, ev := range g.sink.Events() {
		if ev.Extensions()[generic.ExtTriggerID] == id {
			n++
		}
	}
	return n
}

func TestGenericEventRunsJobAndSendsOneResult(t *testing.T) {
	g := newGenericEnv(t, true, genericConfig("alpine:3.20"), nil)
	fn := g.startFunction("replica-0")
	g.startWatch(fn)
	testbed.SetLogs(t, g.ns, "task-0-compile", "compiled 12 packages")

	ce := newGeneric(map[string]any{"branch": "main", "repo": "shop"})
	require.Equal(t, http.StatusAccepted, deliverDirect(t, fn.url, ce))
	created := g.jobsOf(ce.ID())
	require.Len(t, created, 1)
	job := created[0]
	assert.Equal(t, jobs.ModeGeneric, job.Annotations[jobs.AnnotationMode], "the builder marks the route it took")
	assert.Equal(t, jobs.Name(ce.Source(), ce.ID(), 0, "Build"), job.Name, "the name is (source, id)'s, like a Keptn Job's")
	env := map[string]string{}
	for _, v := range job.Spec.Template.Spec.Containers[0].Env {
		env[v.Name] = v.Value
	}
	assert.Equal(t, "shop", env["REPO"], "valueFrom: event reads data")
	assert.Equal(t, "commit/4f2a", env["SUBJECT"], "valueFrom: event reads the attributes")
	assert.Equal(t, jobs.EventFile, env[jobs.EventPathEnv])
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "psa-", Namespace: g.ns}, Spec: job.Spec.Template.Spec}
	_, err := g.kube.CoreV1().Pods(g.ns).Create(context.Background(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	require.NoError(t, err, "the pod template passes Pod Security Admission restricted")

	res := g.waitResult(ce.ID())
	assert.Equal(t, generic.DefaultResultType, res.Type())
	assert.Equal(t, job.Namespace+"/"+job.Name, res.Subject())
	assert.Equal(t, ce.Source(), res.Extensions()[generic.ExtTriggerSource])
	assert.Equal(t, ce.Type(), res.Extensions()[generic.ExtTriggerType])
	data := dataOf(t, res)
	assert.Equal(t, "succeeded", data["status"])
	assert.Equal(t, "pass", data["result"])
	assert.Contains(t, data["message"], "compiled 12 packages")
	tasks, _ := data["tasks"].([]any)
	require.NotEmpty(t, tasks, "per-task lines: %v", data)

	// A sweep finds nothing owed, and Keptn heard nothing.
	require.Equal(t, http.StatusAccepted, ping(t, fn.url))
	assert.Equal(t, 1, g.resultsFor(ce.ID()))
	assert.Empty(t, g.keptn.EventsOfType("sh.keptn.event.build.started"))

	// No action matches another branch: 202, no Job.
	other := newGeneric(map[string]any{"branch": "dev"})
	require.Equal(t, http.StatusAccepted, deliverDirect(t, fn.url, other))
	assert.Empty(t, g.jobsOf(other.ID()))
}

func TestGenericMalformedEventsAre400(t *testing.T) {
	g := newGenericEnv(t, false, genericConfig("alpine:3.20"), nil)
	fn := g.startFunction("replica-0")
	big := newGeneric(map[string]any{"branch": "main", "pad": strings.Repeat("x", generic.MaxEventBytes)})
	assert.Equal(t, http.StatusBadRequest, deliverDirect(t, fn.url, big))
	assert.Empty(t, g.jobsOf(big.ID()))
	// A result of ours never starts a Job, whatever its type.
	loop := newGeneric(map[string]any{"branch": "main"})
	loop.SetExtension(generic.ExtTriggerID, "earlier")
	assert.Equal(t, http.StatusAccepted, deliverDirect(t, fn.url, loop))
	assert.Empty(t, g.jobsOf(loop.ID()))
}

func TestGenericDuplicatesAndReplicasGiveOneJobAndOneResult(t *testing.T) {
	g := newGenericEnv(t, false, genericConfig("alpine:3.20"), nil)
	a, b := g.startFunction("replica-a"), g.startFunction("replica-b")
	g.startWatch(a, b)
	ce := newGeneric(map[string]any{"branch": "main"})
	var wg sync.WaitGroup
	for _, r := range []*replica{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.Equal(t, http.StatusAccepted, deliverDirect(t, r.url, ce))
		}()
	}
	wg.Wait()
	require.Len(t, g.jobsOf(ce.ID()), 1)
	g.waitResult(ce.ID())
	require.Equal(t, http.StatusAccepted, ping(t, a.url))
	require.Equal(t, http.StatusAccepted, ping(t, b.url))
	// A redelivery after the report meets the Job and sends nothing.
	assert.Equal(t, http.StatusAccepted, deliverDirect(t, b.url, ce))
	assert.Len(t, g.jobsOf(ce.ID()), 1)
	assert.Equal(t, 1, g.resultsFor(ce.ID()))
}

func TestGenericFailingTask(t *testing.T) {
	g := newGenericEnv(t, false, genericConfig(testbed.ImageExit(3)), nil)
	fn := g.startFunction("replica-0")
	g.startWatch(fn)
	testbed.SetLogs(t, g.ns, "task-0-compile", "undefined: Foo")
	ce := newGeneric(map[string]any{"branch": "main"})
	require.Equal(t, http.StatusAccepted, deliverDirect(t, fn.url, ce))
	data := dataOf(t, g.waitResult(ce.ID()))
	assert.Equal(t, "errored", data["status"])
	assert.Equal(t, "fail", data["result"])
	assert.Contains(t, data["message"], "undefined: Foo")
	tasks, _ := data["tasks"].([]any)
	require.NotEmpty(t, tasks)
	last, _ := tasks[len(tasks)-1].(map[string]any)
	assert.InDelta(t, 3, last["exitCode"], 0, "per-task exit codes: %v", tasks)
}

func TestGenericStructuredResult(t *testing.T) {
	g := newGenericEnv(t, false, genericConfig(testbed.ImageResult), nil)
	fn := g.startFunction("replica-0")
	g.startWatch(fn)
	ce := newGeneric(map[string]any{"branch": "main"})
	require.Equal(t, http.StatusAccepted, deliverDirect(t, fn.url, ce))
	data := dataOf(t, g.waitResult(ce.ID()))
	assert.Equal(t, "warning", data["result"], "the task's own result counts")
	results, _ := data["results"].(map[string]any)
	compile, _ := results["compile"].(map[string]any)
	require.NotNil(t, compile, "the termination message is under the task's name: %v", data)
	assert.Contains(t, compile, "sli")
}

// TestGenericEventFileReadableByTask runs the real fetcher with the init
// container the function built (kwok runs no container): it writes the
// event, byte for byte, where K_EVENT_PATH points, and the ConfigMap's
// keys beside it, holding no credentials.
func TestGenericEventFileReadableByTask(t *testing.T) {
	config := strings.Replace(genericConfig("alpine:3.20"), `        cmd: [sh, -c, "make"]`, `        cmd: [sh, -c, "make"]
        files: [Makefile]`, 1)
	g := newGenericEnv(t, false, config, map[string]string{"Makefile": "all:\n\techo built\n"})
	fn := g.startFunction("replica-0")
	ce := newGeneric(map[string]any{"branch": "main", "note": "costs $(HOME) and $$5"})
	require.Equal(t, http.StatusAccepted, deliverDirect(t, fn.url, ce))
	created := g.jobsOf(ce.ID())
	require.Len(t, created, 1)
	fetch := created[0].Spec.Template.Spec.InitContainers[0]
	require.Equal(t, jobs.FetcherContainer, fetch.Name)
	for _, v := range fetch.Env {
		assert.Nil(t, v.ValueFrom, "the generic fetcher reads no Secret: %s", v.Name)
	}
	tree := g.fetch(created[0])
	var got, want map[string]any
	require.NoError(t, json.Unmarshal(tree[strings.TrimPrefix(jobs.EventFile, jobs.WorkspacePath+"/")], &got))
	raw, err := json.Marshal(ce)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &want))
	assert.Equal(t, want, got, "the event file is the event")
	assert.Equal(t, "all:\n\techo built\n", string(tree["Makefile"]))
}
