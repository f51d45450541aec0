package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// Hostile config authors and event senders (issue 16, points 3, 4, 6, 7
// and 9), end to end: one replica with a deny policy handles a config or an
// event of each kind, and answers each with an errored .finished, or a Job
// that carries the event's words as written. The memory and CPU cases are
// budgets hit with a clear error; that the replica survives them is the
// test still running.

// aliasBombConfig is one 190 KB value anchored and aliased 14,000 times: a
// 256 KB file that would encode to 2.7 GB of Job.
func aliasBombConfig() string {
	var b strings.Builder
	b.WriteString(oneTask("", "        image: alpine:3.20\n"))
	b.WriteString("        cmd: [&big " + strings.Repeat("x", 190_000) + "]\n        args: [")
	for i := range 14_000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("*big")
	}
	b.WriteString("]\n")
	return b.String()
}

// heavyRegexpConfig has 128 event names of the form (?:[a-z]{1,999}|...),
// 100 KB that compiled to 1.4 GB; the first action also names the real
// type, so the event has an action to fail.
func heavyRegexpConfig() string {
	var alts []string
	for i := 0; len(strings.Join(alts, "|")) < 780; i++ {
		alts = append(alts, fmt.Sprintf("[a-%c]{1,999}", 'b'+i%24))
	}
	name := "(?:" + strings.Join(alts, "|") + ")"
	var b strings.Builder
	b.WriteString("apiVersion: v2\nactions:\n")
	for a := range 4 {
		fmt.Fprintf(&b, "  - name: a%d\n    events:\n", a)
		if a == 0 {
			b.WriteString("      - name: sh.keptn.event.test.triggered\n")
		}
		for range 32 - btoi(a == 0) {
			fmt.Fprintf(&b, "      - name: '%s'\n", name)
		}
		b.WriteString("    tasks:\n      - name: t\n        image: alpine:3.20\n")
	}
	return b.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

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
		doc := aliasBombConfig()
		require.LessOrEqual(t, len(doc), 256<<10)
		commit("alias-bomb", doc)
		e.expectRefused(t, fn.url, newTriggered("test", serviceScope("alias-bomb"), ""),
			"invalid job config", ":10:36: this alias makes the document expand to more than 1048576 bytes of values (aliases included")
	})
	t.Run("heavy regular expressions", func(t *testing.T) {
		commit("regexps", heavyRegexpConfig())
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
