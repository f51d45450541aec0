package launch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

const genericHello = `apiVersion: v2
actions:
  - name: build
    events:
      - name: com.example.build
        jsonpath:
          property: $.source
          match: ci
    tasks:
      - name: compile
        image: alpine
`

func withGenericConfig(t *testing.T, config string) handlerOption {
	t.Helper()
	dir := t.TempDir()
	if config != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, GenericConfigFile), []byte(config), 0o644))
	}
	g, err := NewGenericConfigs(dir)
	require.NoError(t, err)
	return func(h *Handler) { h.GenericConfigs = g }
}

func genericTriggered(t *testing.T, source string) *keptn.TaskEvent {
	t.Helper()
	ce := event.New()
	ce.SetID("g-1")
	ce.SetSource(source)
	ce.SetType("com.example.build")
	_ = ce.SetData(event.ApplicationJSON, map[string]string{"branch": "main"})
	ev, err := generic.Parse(ce)
	require.NoError(t, err)
	return ev
}

func TestHandleGeneric(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		off     bool
		source  string
		want    Outcome
		wantEvs []string
	}{
		{name: "creates a Job, sends no .started", config: genericHello, source: "ci", want: Outcome{Matched: 1, Created: 1}},
		{name: "the source filter", config: genericHello, source: "elsewhere", want: Outcome{}},
		{name: "no config.yaml", source: "ci", want: Outcome{}},
		{name: "mode off", config: genericHello, off: true, source: "ci", want: Outcome{}},
		{name: "an invalid config gives one errored result, no log.error", config: genericHello + "        imagePullPolicy: Sometimes\n", source: "ci",
			want: Outcome{Matched: 1, Invalid: 1}, wantEvs: []string{generic.DefaultResultType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			var opts []handlerOption
			if !tt.off {
				opts = append(opts, withGenericConfig(t, tt.config))
			}
			h, kube := newHandler(t, "", rec, opts...)
			ev := genericTriggered(t, tt.source)
			for range 2 {
				out, err := h.Handle(context.Background(), ev)
				require.NoError(t, err)
				if tt.want.Created > 0 {
					assert.Contains(t, []Outcome{tt.want, {Matched: 1, Existing: 1}}, out)
				} else {
					assert.Equal(t, tt.want, out)
				}
			}
			assert.Equal(t, tt.wantEvs, rec.types(), "exactly once, whatever the redeliveries")
			list, err := kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			for _, j := range list.Items {
				assert.True(t, jobs.IsGeneric(j.DeepCopy()))
				assert.Equal(t, jobs.Name(tt.source, "g-1", 0, "build"), j.Name)
			}
			if tt.want.Matched == 0 {
				assert.Empty(t, list.Items)
			}
		})
	}
}
