package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig/jobconfigtest"
)

// Hostile config authors and event senders (issue 16, points 3, 4, 6, 7
// and 9), end to end: one replica with a deny policy handles a config or an
// event of each kind, and answers each with an errored .finished, or a Job
// that carries the event's words as written. The memory and CPU cases are
// budgets hit with a clear error; that the replica survives them is the
// test still running.

// nestedData is event data with lists nested depth deep (6 KB at 3,000).
func nestedData(service string, depth int) map[string]any {
	var v any = []any{}
	for range depth {
		v = []any{v}
	}
	d := serviceScope(service)
	d["deep"] = v
	return d
}

func TestHostileInputsEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.withPolicy("apiVersion: v1\nimages:\n  deny: [ghcr.io/evil/**, docker.io/evil/**]\n")
	fn := e.startFunction("replica-0")
	commit := func(service, config string) {
		e.commit(map[string]string{serviceResource("e2e-project", "e2e", service, "job/config.yaml"): config})
	}

	t.Run("alias bomb", func(t *testing.T) {
		doc := jobconfigtest.AliasBomb(oneTask("", "        image: alpine:3.20\n"))
		require.LessOrEqual(t, len(doc), 256<<10)
		commit("alias-bomb", doc)
		e.expectRefused(t, fn.url, newTriggered("test", serviceScope("alias-bomb"), ""),
			"invalid job config", ":10:36: this alias makes the document expand to more than 1048576 bytes of values (aliases included")
	})
	t.Run("heavy regular expressions", func(t *testing.T) {
		commit("regexps", jobconfigtest.HeavyRegexps(4, 32, "alpine:3.20", "sh.keptn.event.test.triggered"))
		e.expectRefused(t, fn.url, newTriggered("test", serviceScope("regexps"), ""),
			"actions[0].events[1].name: this regular expression compiles to more than 2048 instructions")
	})
	t.Run("recursive descent into a deep event", func(t *testing.T) {
		commit("deep", oneTask("", imageTask("alpine:3.20", "env: [{name: ALL, value: '$..*', valueFrom: event}]")))
		e.expectRefused(t, fn.url, newTriggered("test", nestedData("deep", 3000), ""),
			"actions[0].tasks[0].env[0].value: $..* would take more than the 16777216 steps one JSONPath may take on this event")
	})
	t.Run("$(VAR) in event data", func(t *testing.T) {
		commit("dollar", oneTask("", imageTask("alpine:3.20", "env: [{name: URL, value: $.data.deployment.url, valueFrom: event}]")))
		data := serviceScope("dollar")
		data["deployment"] = map[string]any{"url": "$(password)"}
		data["labels"] = map[string]any{"note": "$(password)"}
		job := e.expectJob(t, fn.url, newTriggered("test", data, ""))
		env := map[string]corev1.EnvVar{}
		for _, v := range job.Spec.Template.Spec.Containers[0].Env {
			env[v.Name] = v
		}
		assert.Equal(t, "$$(password)", env["URL"].Value, "Kubernetes reads $$( as a literal $(")
		assert.Equal(t, "$$(password)", env["LABELS_NOTE"].Value)
	})
	t.Run("labels that collide as variables", func(t *testing.T) {
		commit("labels", oneTask("", imageTask("alpine:3.20")))
		data := serviceScope("labels")
		data["labels"] = map[string]any{"a b": "1", "a-b": "2"}
		e.expectRefused(t, fn.url, newTriggered("test", data, ""), `labels "a b" and "a-b" both become LABELS_A_B`)
	})
	t.Run("what validate refuses, the function refuses", func(t *testing.T) {
		for service, tc := range map[string]struct{ task, want string }{
			"privileged":    {imageTask("alpine:3.20", "securityContext: {privileged: true}"), "actions[0].tasks[0].securityContext.privileged: true is not allowed"},
			"merge-key":     {imageTask("alpine:3.20", "securityContext: {<<: {runAsUser: 0}}"), "actions[0].tasks[0].securityContext.runAsUser: 0 (root) is not allowed"},
			"reserved":      {imageTask("alpine:3.20", "annotations: {jobs.keptn.sh/origin: forged}"), "the jobs.keptn.sh/ prefix is reserved"},
			"absolute-file": {"        image: alpine:3.20\n        files: [//x]\n", `files[0]: the file fetcher would refuse it: invalid resource URI "//x"`},
		} {
			commit(service, oneTask("", tc.task))
			e.expectRefused(t, fn.url, newTriggered("test", serviceScope(service), ""), "invalid job config", tc.want)
		}
	})
	t.Run("deny by another spelling", func(t *testing.T) {
		for i, ref := range []string{
			"GHCR.IO/evil/miner:1", "ghCr.io/evil/miner:1", "ghcr.io:443/evil/miner:1", "ghcr.io./evil/miner:1",
			"index.docker.io:443/evil/miner:1", "registry-1.docker.io/evil/miner:1", "docker.io:443/evil/miner:1",
		} {
			service := fmt.Sprintf("spelling-%d", i)
			commit(service, oneTask("", imageTask(ref)))
			e.expectRefused(t, fn.url, newTriggered("test", serviceScope(service), ""), fmt.Sprintf("image %q", ref), "deny pattern")
		}
	})
	// The replica is still there and well.
	assert.Equal(t, http.StatusAccepted, deliver(t, fn.url, newTriggered("test", serviceScope("nothing-here"), "")))
}
