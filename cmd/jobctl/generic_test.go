package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const genericConfigYAML = `apiVersion: v2
actions:
  - name: build
    events:
      - name: com.example.build.requested
        jsonpath:
          property: $.data.branch
          match: main
    tasks:
      - name: compile
        image: golang:1.26
        cmd: [make]
        env:
          - name: REPO
            value: $.data.repo
            valueFrom: event
`

func TestGenericEventRenderPipeline(t *testing.T) {
	dir := t.TempDir()
	payload := filepath.Join(dir, "payload.json")
	require.NoError(t, os.WriteFile(payload, []byte(`{"branch": "main", "repo": "shop"}`), 0o644))
	config := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(genericConfigYAML), 0o644))

	ev := jobctl(t, "", "event", "generic", "--type", "com.example.build.requested", "--source", "ci/7", "--id", "e-1", "--data", "@"+payload)
	require.Equal(t, exitOK, ev.code, ev.stderr)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(ev.stdout), &doc))
	assert.Equal(t, "com.example.build.requested", doc["type"])
	assert.Equal(t, map[string]any{"branch": "main", "repo": "shop"}, doc["data"])

	r := jobctl(t, ev.stdout, "render", "--config", config, "--event", "-")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, want := range []string{
		"jobs.keptn.sh/mode: generic",
		"jobs.keptn.sh/result-type: dev.jobexecutor.job.finished",
		"- name: REPO\n          value: shop\n",
		"- name: K_EVENT_PATH\n          value: /keptn/event.json\n",
		"- --generic\n",
	} {
		assert.Contains(t, r.stdout, want)
	}
	assert.NotContains(t, r.stdout, "KEPTN_API_TOKEN", "a generic Job carries no token")
}

func TestGenericEventErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"a Keptn type", []string{"--type", "sh.keptn.event.test.triggered", "--source", "ci"}, `jobctl: --type "sh.keptn.event.test.triggered": types under sh.keptn., dev.knative. and dev.jobexecutor. are never generic ('jobctl event TASK' writes Keptn's)`},
		{"data not JSON", []string{"--type", "x", "--source", "ci", "--data", "{"}, "jobctl: --data: not JSON"},
		{"data file missing", []string{"--type", "x", "--source", "ci", "--data", "@/nonexistent/p.json"}, "jobctl: --data: open /nonexistent/p.json: no such file or directory"},
		{"no source", []string{"--type", "x"}, `jobctl: required flag(s) "source" not set`},
		{"bad time", []string{"--type", "x", "--source", "ci", "--time", "now"}, `jobctl: --time "now": want RFC 3339, e.g. 2024-05-13T07:46:09Z`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jobctl(t, "", append([]string{"event", "generic"}, tt.args...)...)
			assert.Equal(t, exitUsage, r.code)
			assert.Empty(t, r.stdout)
			assert.Equal(t, tt.stderr, strings.SplitN(r.stderr, "\n", 2)[0])
		})
	}
}

// FuzzGenericData: --data is JSON or refused, never a panic.
func FuzzGenericData(f *testing.F) {
	for _, s := range []string{`{"a":1}`, "[1]", `"x"`, "{", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.HasPrefix(v, "@") {
			return
		}
		raw, err := genericData(v)
		if err == nil && !json.Valid(raw) {
			t.Fatalf("%q accepted as %q", v, raw)
		}
	})
}
