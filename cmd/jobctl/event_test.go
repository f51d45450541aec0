package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// pinned are the flags that make `jobctl event` reproducible.
var pinned = []string{"--id", "6a3b1c2d-0e4f-4a5b-8c7d-9e0f1a2b3c4d", "--context", "2b5e8f1a-3c4d-4e6f-9a0b-1c2d3e4f5a6b", "--time", "2024-05-13T07:46:09Z"}

// TestEventGolden: the render tests' event is exactly what jobctl writes.
func TestEventGolden(t *testing.T) {
	args := append([]string{"event", "test", "--project", "sockshop", "--stage", "dev", "--service", "carts",
		"--label", "buildId=42", "--git-commit-id", "521747298a3790fde1710f3aa2d03b55020575aa",
		"--data", `{"test": {"teststrategy": "functional"}, "deployment": {"deploymentURIsLocal": ["http://carts.sockshop-dev"]}}`}, pinned...)
	r := jobctl(t, "", args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	want, err := os.ReadFile(testEvent)
	require.NoError(t, err)
	assert.Equal(t, string(want), r.stdout)
}

func TestEventShape(t *testing.T) {
	r := jobctl(t, "", "event", "deployment", "--project", "sockshop", "--stage", "dev", "--service", "carts", "--label", "a=b=c")
	require.Equal(t, exitOK, r.code, r.stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Equal(t, "1.0", got["specversion"])
	assert.Equal(t, "sh.keptn.event.deployment.triggered", got["type"])
	assert.Equal(t, "shipyard-controller", got["source"])
	assert.Equal(t, "application/json", got["datacontenttype"])
	assert.Equal(t, keptn.SpecVersion, got["shkeptnspecversion"])
	assert.NotContains(t, got, "gitcommitid")
	for _, k := range []string{"id", "shkeptncontext"} {
		_, err := uuid.Parse(got[k].(string))
		assert.NoError(t, err, "%s is a UUID", k)
	}
	_, err := time.Parse(time.RFC3339Nano, got["time"].(string))
	assert.NoError(t, err)
	assert.Equal(t, map[string]any{"project": "sockshop", "stage": "dev", "service": "carts", "labels": map[string]any{"a": "b=c"}}, got["data"])

	// The function's parser takes it.
	ev, err := parseEventFile("event.json", []byte(r.stdout))
	require.NoError(t, err)
	assert.Equal(t, "deployment", ev.Task)

	// A second event is a different event.
	again := jobctl(t, "", "event", "deployment", "--project", "sockshop", "--stage", "dev", "--service", "carts")
	var other map[string]any
	require.NoError(t, json.Unmarshal([]byte(again.stdout), &other))
	assert.NotEqual(t, got["id"], other["id"])
	assert.NotEqual(t, got["shkeptncontext"], other["shkeptncontext"])
}

// TestEventRenderPipeline pipes `jobctl event` into `jobctl render` with
// The env config, whose env values read the event.
func TestEventRenderPipeline(t *testing.T) {
	args := append([]string{"event", "deployment", "--project", "e2e-project", "--stage", "e2e", "--service", "e2e-service",
		"--label", "jsonPathLabel=label-value", "--data", `{"additionalData": {"jsonPathArray": ["a", "b"], "n": 1.50}}`}, pinned...)
	ev := jobctl(t, "", args...)
	require.Equal(t, exitOK, ev.code, ev.stderr)

	config := jobConfigs + "env.yaml"
	r := jobctl(t, ev.stdout, "render", "--config", config, "--event", "-")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, want := range []string{
		"- name: LABELS_JSONPATHLABEL\n          value: label-value\n",
		"- name: FROM-EVENT-label\n          value: label-value\n",
		"- name: FROM-EVENT-second\n          value: b\n",
		// The function decodes event data into float64s: 1.50 reads 1.5.
		`- name: FROM-EVENT-object` + "\n" + `          value: '{"jsonPathArray":["a","b"],"n":1.5}'` + "\n",
	} {
		assert.Contains(t, r.stdout, want)
	}

	file := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(file, []byte(ev.stdout), 0o644))
	assert.Equal(t, expectJobs(t, config, "job/config.yaml (service level)", file, jobs.DefaultSettings()), r.stdout)
}

func TestEventErrors(t *testing.T) {
	scope := []string{"--project", "sockshop", "--stage", "dev", "--service", "carts"}
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"task with a dot", append([]string{"test.x"}, scope...), `jobctl: task "test.x": want a Keptn task name such as test or deployment (no dots or spaces)`},
		{"label without =", append([]string{"test", "--label", "buildId"}, scope...), `jobctl: --label "buildId": want key=value`},
		{"data not an object", append([]string{"test", "--data", "[1]"}, scope...), `jobctl: --data: want a JSON object, e.g. '{"test": {"teststrategy": "locust"}}'`},
		{"data with two objects", append([]string{"test", "--data", "{} {}"}, scope...), "jobctl: --data: want one JSON object, found more after it"},
		{"labels not strings", append([]string{"test", "--data", `{"labels": {"n": 1}}`}, scope...), "jobctl: --data: labels.n must be a string"},
		{"context not a uuid", append([]string{"test", "--context", "ctx"}, scope...), `jobctl: --context "ctx": Keptn contexts are UUIDs: invalid UUID length: 3`},
		{"bad time", append([]string{"test", "--time", "yesterday"}, scope...), `jobctl: --time "yesterday": want RFC 3339, e.g. 2024-05-13T07:46:09Z`},
		{"bad project", []string{"test", "--project", "sock shop", "--stage", "dev", "--service", "carts"}, `jobctl: malformed Keptn event: data.project "sock shop" is not a Keptn name`},
		{"no stage", []string{"test", "--project", "sockshop", "--service", "carts"}, `jobctl: required flag(s) "stage" not set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jobctl(t, "", append([]string{"event"}, tt.args...)...)
			assert.Equal(t, exitUsage, r.code)
			assert.Empty(t, r.stdout)
			assert.Equal(t, tt.stderr, strings.SplitN(r.stderr, "\n", 2)[0])
		})
	}
}

func TestEventData(t *testing.T) {
	tests := []struct {
		name string
		o    eventOptions
		want map[string]any
	}{
		{"flags only", eventOptions{project: "p", stage: "s", service: "v"},
			map[string]any{"project": "p", "stage": "s", "service": "v"}},
		{"flags win over data", eventOptions{project: "p", stage: "s", service: "v", data: `{"project": "other", "result": "pass"}`},
			map[string]any{"project": "p", "stage": "s", "service": "v", "result": "pass"}},
		{"labels merge, flags win", eventOptions{project: "p", stage: "s", service: "v", data: `{"labels": {"a": "1", "b": "2"}}`, labels: []string{"b=3", "c="}},
			map[string]any{"project": "p", "stage": "s", "service": "v", "labels": map[string]any{"a": "1", "b": "3", "c": ""}}},
		{"numbers kept as written", eventOptions{project: "p", stage: "s", service: "v", data: `{"n": 1.50}`},
			map[string]any{"project": "p", "stage": "s", "service": "v", "n": json.Number("1.50")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eventData(tt.o)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseLabel(t *testing.T) {
	tests := []struct {
		in, key, value string
		ok             bool
	}{
		{"a=b", "a", "b", true},
		{"a=", "a", "", true},
		{"a=b=c", "a", "b=c", true},
		{"build id=1", "build id", "1", true},
		{"=b", "", "", false},
		{" =b", "", "", false},
		{"ab", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		k, v, err := parseLabel(tt.in)
		assert.Equal(t, tt.ok, err == nil, tt.in)
		assert.Equal(t, tt.key, k, tt.in)
		assert.Equal(t, tt.value, v, tt.in)
	}
}

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{"a=b", "a=", "=b", "a=b=c", "", "ключ=значение"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := parseLabel(s)
		if err != nil {
			return
		}
		if k+"="+v != s || strings.TrimSpace(k) == "" {
			t.Fatalf("parseLabel(%q) = %q, %q", s, k, v)
		}
	})
}

// FuzzBuildEvent checks that whatever jobctl writes, the function parses back
// to the same scope, task and labels.
func FuzzBuildEvent(f *testing.F) {
	f.Add("test", "sockshop", "dev", "carts", "buildId=42", `{"test": {"teststrategy": "locust"}}`)
	f.Add("get-sli", "p", "s", "v", "a=b=c", `{"labels": {"x": "y"}}`)
	f.Add("x.y", "p", "s", "v", "", "")
	f.Add("deployment", "P", "s", "v", "k=", `{"project": 1}`)
	f.Fuzz(func(t *testing.T, task, project, stage, service, label, data string) {
		o := eventOptions{project: project, stage: stage, service: service, data: data, source: "shipyard-controller"}
		if label != "" {
			o.labels = []string{label}
		}
		ce, err := buildEvent(task, o, time.Date(2024, 5, 13, 7, 46, 9, 0, time.UTC))
		if err != nil {
			return
		}
		var b bytes.Buffer
		require.NoError(t, writeEvent(&b, ce))
		ev, err := parseEventFile("event.json", b.Bytes())
		require.NoError(t, err, b.String())
		assert.Equal(t, task, ev.Task)
		assert.Equal(t, []string{project, stage, service}, []string{ev.Project, ev.Stage, ev.Service})
		if label != "" {
			k, v, _ := parseLabel(label)
			assert.Equal(t, v, ev.Labels[k])
		}
	})
}

func FuzzParseEventFile(f *testing.F) {
	for _, name := range []string{testEvent, keptnEvent, events + "deployment.triggered.api-request.json", events + "service.create.finished.json"} {
		raw, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(raw)
	}
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"s","type":"sh.keptn.event.test.triggered","shkeptncontext":"c","data":"x"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := parseEventFile("event.json", raw)
		if err != nil {
			return
		}
		if ev.Kind != keptn.KindTriggered || ev.Project == "" || ev.Stage == "" || ev.Service == "" || ev.Context == "" {
			t.Fatalf("accepted an event the function would not run: %+v", ev)
		}
	})
}
