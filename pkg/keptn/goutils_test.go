package keptn

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	keptnv2 "github.com/keptn/go-utils/pkg/lib/v0_2_0"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestResponseDataBytes pins the data of each response as it went out
// before go-utils' EventData composed it: sorted keys, HTML and invalid
// bytes escaped as encoding/json does (pkg/finished sizes by that), Extra
// beside Keptn's fields and never over them. The one change is go-utils'
// omitempty: an empty message is left out.
func TestResponseDataBytes(t *testing.T) {
	o := Origin{Task: "test", TriggeredID: "t", Context: "c", Project: "p", Stage: "s", Service: "v", Labels: map[string]string{"k": "v"}}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		f    Finished
		want string
	}{
		{"pass with a test window", Finished{Status: StatusSucceeded, Result: ResultPass, Message: "ok", Extra: map[string]any{"test": map[string]string{"start": "a"}}},
			`{"labels":{"k":"v"},"message":"ok","project":"p","result":"pass","service":"v","stage":"s","status":"succeeded","test":{"start":"a"}}`},
		{"escapes kept as encoding/json writes them", Finished{Status: StatusErrored, Result: ResultFail, Message: "<b>\xff&"},
			`{"labels":{"k":"v"},"message":"\u003cb\u003e\ufffd\u0026","project":"p","result":"fail","service":"v","stage":"s","status":"errored"}`},
		{"extra never speaks for Keptn's fields", Finished{Status: StatusSucceeded, Result: ResultWarning, Extra: map[string]any{"message": "x", "labels": "y", "project": "z", "n": json.Number("0.1")}},
			`{"labels":{"k":"v"},"n":0.1,"project":"p","result":"warning","service":"v","stage":"s","status":"succeeded"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := FinishedEvent("src", "id", o, tt.f, now)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(ev.Data()))
			var d keptnv2.EventData
			require.NoError(t, keptnv2.Decode(json.RawMessage(ev.Data()), &d), "Keptn's services decode it")
			assert.Equal(t, keptnv2.StatusType(tt.f.Status), d.Status)
			assert.Equal(t, keptnv2.ResultType(tt.f.Result), d.Result)
		})
	}
	started, err := StartedEvent("src", "id", o, now)
	require.NoError(t, err)
	assert.Equal(t, `{"labels":{"k":"v"},"project":"p","service":"v","stage":"s"}`, string(started.Data()))
	logErr, err := LogErrorEvent("src", "id", o, "job-executor", "", now)
	require.NoError(t, err)
	assert.Equal(t, `{"integrationid":"job-executor","labels":{"k":"v"},"message":"","project":"p","service":"v","stage":"s","task":"test"}`, string(logErr.Data()))
}

// TestTypeHelpersKeepTheirMeaning: the go-utils helpers behind ParseTaskType,
// TaskType and IsTriggeredType match a suffix or count parts without
// looking at the prefix, so ours add the sh.keptn.event. test; with it,
// they answer as go-utils does for Keptn's types.
func TestTypeHelpersKeepTheirMeaning(t *testing.T) {
	for _, typ := range []string{
		"sh.keptn.event.test.triggered", "sh.keptn.event.test.started", "sh.keptn.event.test.finished",
		"sh.keptn.event.dev.delivery.triggered", "sh.keptn.event..triggered", "sh.keptn.event.triggered",
		"sh.keptn.log.error", "com.example.test.triggered", "a.b.c.test.triggered", "sh.keptn.event.test.status.changed",
	} {
		keptnType := strings.HasPrefix(typ, "sh.keptn.event.")
		_, _, ok := ParseTaskType(typ)
		assert.Equal(t, keptnType && keptnv2.IsTaskEventType(typ), ok, "ParseTaskType(%q)", typ)
		assert.Equal(t, keptnType && keptnv2.IsTriggeredEventType(typ), IsTriggeredType(typ), "IsTriggeredType(%q)", typ)
		if keptnv2.IsSequenceEventType(typ) && keptnType {
			assert.True(t, IsSequenceType(typ), "IsSequenceType(%q)", typ)
		}
	}
	assert.Equal(t, keptnv2.GetTriggeredEventType("x"), TaskType("x", KindTriggered))
	assert.Equal(t, keptnv2.GetStartedEventType("x"), TaskType("x", KindStarted))
	assert.Equal(t, keptnv2.GetFinishedEventType("x"), TaskType("x", KindFinished))
	assert.Equal(t, "sh.keptn.event.x.invalidated", TaskType("x", "invalidated"))
}
