package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// job-executor-service ran actions on any Keptn event, for example a
// notification Job on sh.keptn.event.deployment.finished, silently. Here
// actions run on .triggered events only, and a config that says otherwise
// is told so: an action that matches no .triggered event is refused (the
// config is invalid, and Keptn's log.error says why), a dead event name
// beside a .triggered one is a warning. The Trigger never delivers the
// other kinds, so nothing runs on them and nothing is sent for them.
func TestKeptnOtherKinds(t *testing.T) {
	const notify = "apiVersion: v2\nactions:\n  - name: notify\n    events:\n      - name: sh.keptn.event.deployment.finished\n    tasks:\n      - name: t\n        image: alpine:3.20\n"

	t.Run("an action on .finished only is refused", func(t *testing.T) {
		e := newEnv(t)
		fn := e.startFunction("replica-0")
		e.setConfig(notify + action("run", "alpine:3.20"))

		fin := newTriggered("deployment", scope, "")
		fin.SetType("sh.keptn.event.deployment.finished")
		assert.Equal(t, 0, deliver(t, fn.url, fin), "the Trigger does not deliver other kinds")
		assert.Empty(t, e.jobsOf(fin.ID()))

		ce := newTriggered("test", scope, "")
		require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
		logs := e.keptn.EventsOfType("sh.keptn.log.error")
		require.NotEmpty(t, logs)
		msg, _ := logs[0].Data["message"].(string)
		assert.Contains(t, msg, "actions[0].events: this action would never run")
		assert.Contains(t, msg, ".triggered events only")
		started := e.eventsFor(ce.ID(), "sh.keptn.event.test.started")
		finished := e.eventsFor(ce.ID(), "sh.keptn.event.test.finished")
		require.Len(t, started, 1, "the .triggered action is failed with the config's error, not left hanging")
		require.Len(t, finished, 1)
		assert.Equal(t, "errored", finished[0].Data["status"])
		assert.Empty(t, e.keptn.ShipyardViolations())
	})

	t.Run("a dead event name beside a .triggered one runs on the .triggered one", func(t *testing.T) {
		e := newEnv(t)
		fn := e.startFunction("replica-0")
		e.startWatch(fn)
		e.setConfig("apiVersion: v2\nactions:\n  - name: both\n    events:\n      - name: sh.keptn.event.deployment.finished\n      - name: sh.keptn.event.test.triggered\n    tasks:\n      - name: t\n        image: alpine:3.20\n")
		ce := newTriggered("test", scope, "")
		require.Equal(t, http.StatusAccepted, deliver(t, fn.url, ce))
		fin := e.waitFinished(ce.ID(), "test", reportWithin)
		assert.Equal(t, "pass", fin.Data["result"])
		assert.Empty(t, e.keptn.EventsOfType("sh.keptn.log.error"), "a warning is not an error")
	})
}
