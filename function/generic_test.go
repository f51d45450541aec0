package function

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
)

// TestGenericRoute: with the generic mode on, a malformed generic event is
// 400 before anything else is asked, and events that are never generic
// (Keptn's other kinds, our own results) are ignored, never run.
func TestGenericRoute(t *testing.T) {
	ev := func(typ string, mod func(*event.Event)) event.Event {
		ce := event.New()
		ce.SetID("e-1")
		ce.SetSource("ci")
		ce.SetType(typ)
		_ = ce.SetData(event.ApplicationJSON, map[string]string{"branch": "main"})
		if mod != nil {
			mod(&ce)
		}
		return ce
	}
	tests := []struct {
		name string
		ce   event.Event
		want int
	}{
		{"over the event bound", ev("com.example.build", func(ce *event.Event) {
			_ = ce.SetData(event.ApplicationJSON, map[string]string{"pad": strings.Repeat("x", generic.MaxEventBytes)})
		}), http.StatusBadRequest},
		{"subject not UTF-8", ev("com.example.build", func(ce *event.Event) { ce.SetSubject("\xff") }), http.StatusBadRequest},
		{"a result of ours", ev("com.example.build.finished", func(ce *event.Event) { ce.SetExtension(generic.ExtTriggerID, "e-0") }), 0},
		{"our result type", ev(generic.DefaultResultType, nil), 0},
		{"a Keptn .finished", ev("sh.keptn.event.test.finished", nil), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New()
			f.generic = true
			f.ready.Store(true)
			_, err := f.Handle(context.Background(), tt.ce)
			assertStatus(t, tt.want, err)
		})
	}
}

// TestGenericModeOffIgnores: without GENERIC_CONFIG_DIR a generic event is
// ignored (202), even a malformed one: the Keptn mode never reads it.
func TestGenericModeOffIgnores(t *testing.T) {
	f := New()
	f.ready.Store(true)
	ce := event.New()
	ce.SetID("e-1")
	ce.SetSource("ci")
	ce.SetType("com.example.build")
	ce.SetSubject("\xff")
	_, err := f.Handle(context.Background(), ce)
	require.NoError(t, err)
}
