package jobconfig

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mappedEvent reads an event fixture into the map Match and Lookup take: the
// CloudEvent's attributes by their lower-case names and data as a map.
func mappedEvent(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(eventFixture(name))
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	out := map[string]any{}
	for _, k := range []string{"id", "shkeptncontext", "time", "source", "data", "specversion", "type", "gitcommitid", "triggeredid"} {
		if v, ok := raw[k]; ok {
			out[k] = v
		}
	}
	return out
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	cfg, err := Parse("job/config.yaml", []byte(doc))
	require.NoError(t, err)
	return cfg
}

func TestMatchTwoActions(t *testing.T) {
	data, err := os.ReadFile(configFixture("two-actions.yaml"))
	require.NoError(t, err)
	cfg, err := Parse("job/config.yaml", data)
	require.NoError(t, err)

	testEvent := mappedEvent(t, "test.triggered.json")
	assert.Empty(t, cfg.Match("sh.keptn.event.test.triggered", testEvent), "teststrategy is health, the config wants locust")

	testEvent["data"].(map[string]any)["test"].(map[string]any)["teststrategy"] = "locust"
	assert.Equal(t, []int{0}, cfg.Match("sh.keptn.event.test.triggered", testEvent))

	actionEvent := mappedEvent(t, "action.triggered.json")
	assert.Equal(t, []int{1}, cfg.Match("sh.keptn.event.action.triggered", actionEvent))
	assert.Empty(t, cfg.Match("sh.keptn.event.action.finished", actionEvent))
}

func TestMatchComplexConfig(t *testing.T) {
	data, err := os.ReadFile(configFixture("complex.yaml"))
	require.NoError(t, err)
	cfg, err := Parse("job/config.yaml", data)
	require.NoError(t, err)
	// Its filters were written against the event's data, not the mapped
	// event ($.action.action), so only the catch-all event of the silent
	// action matches; silent actions are returned like any other.
	ev := mappedEvent(t, "action.triggered.json")
	assert.Equal(t, []int{1}, cfg.Match("sh.keptn.event.action.triggered", ev))
	assert.Equal(t, []int{1}, cfg.Match("sh.keptn.event.action.started", ev))
	assert.Empty(t, cfg.Match("sh.keptn.event.action.finished", ev))
}

func TestMatch(t *testing.T) {
	cfg := mustParse(t, `apiVersion: v2
actions:
  - name: exact
    events: [{name: sh.keptn.event.test.triggered}]
    image: alpine
  - name: any triggered
    events: [{name: sh.keptn.event.*.triggered}]
    image: alpine
  - name: bare word
    events: [{name: test}]
    image: alpine
  - name: strategy
    silent: true
    events:
      - name: sh.keptn.event.test.triggered
        jsonpath: {property: $.data.test.teststrategy, match: performance}
      - name: sh.keptn.event.test.triggered
        jsonpath: {property: $.data.test.count, match: "3"}
      - name: sh.keptn.event.test.triggered
        jsonpath: {property: $.data.test.enabled, match: "true"}
      - name: sh.keptn.event.test.triggered
        jsonpath: {property: $.data.test, match: "{}"}
    image: alpine
`)
	ev := func(test map[string]any) map[string]any {
		return map[string]any{"type": "sh.keptn.event.test.triggered", "data": map[string]any{"test": test}}
	}
	tests := []struct {
		name      string
		eventType string
		event     map[string]any
		want      []int
	}{
		{"all matching actions run, in order", "sh.keptn.event.test.triggered", ev(map[string]any{"teststrategy": "performance"}), []int{0, 1, 3}},
		{"anchored: a bare word matches only itself", "sh.keptn.event.test.triggered", ev(nil), []int{0, 1}},
		{"a bare word matching the whole type", "test", nil, []int{2}},
		{"anchored at the end", "sh.keptn.event.test.triggered.x", nil, nil},
		{"anchored at the start", "x.sh.keptn.event.test.triggered", nil, nil},
		{"regexp", "sh.keptn.event.deployment.triggered", nil, []int{1}},
		{"not triggered", "sh.keptn.event.test.finished", ev(map[string]any{"teststrategy": "performance"}), nil},
		{"jsonpath value differs", "sh.keptn.event.test.triggered", ev(map[string]any{"teststrategy": "functional"}), []int{0, 1}},
		{"jsonpath number as string", "sh.keptn.event.test.triggered", ev(map[string]any{"count": 3.0}), []int{0, 1, 3}},
		{"jsonpath number other", "sh.keptn.event.test.triggered", ev(map[string]any{"count": 3.5}), []int{0, 1}},
		{"jsonpath boolean as string", "sh.keptn.event.test.triggered", ev(map[string]any{"enabled": true}), []int{0, 1, 3}},
		{"jsonpath map never matches", "sh.keptn.event.test.triggered", ev(map[string]any{}), []int{0, 1}},
		{"jsonpath on a nil event", "sh.keptn.event.test.triggered", nil, []int{0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, cfg.Match(tc.eventType, tc.event))
		})
	}
}

// A Config built in code, not by Parse, matches the same way.
func TestMatchHandBuiltConfig(t *testing.T) {
	cfg := &Config{Actions: []Action{
		{Name: "a", Events: []EventMatcher{{Name: "sh.keptn.event.test.triggered",
			JSONPath: &JSONPathFilter{Property: "$.data.x", Match: "y"}}}, Tasks: []Task{{Name: "t"}}},
		{Name: "no tasks", Events: []EventMatcher{{Name: ".*"}}},
		{Name: "bad regexp", Events: []EventMatcher{{Name: "("}}, Tasks: []Task{{Name: "t"}}},
	}}
	assert.Equal(t, []int{0}, cfg.Match("sh.keptn.event.test.triggered", map[string]any{"data": map[string]any{"x": "y"}}))
	assert.Empty(t, cfg.Match("sh.keptn.event.test.triggered", map[string]any{"data": map[string]any{"x": "z"}}))
}

func TestLookup(t *testing.T) {
	ev := mappedEvent(t, "e2e/env.triggered.json")
	v, err := Lookup("$.data.labels.jsonPathLabel", ev)
	require.NoError(t, err)
	assert.Equal(t, "JSON_PATH_LABEL_VALUE", v)

	v, err = Lookup("$.data.additionalData.jsonPathArray[1]", ev)
	require.NoError(t, err)
	assert.Equal(t, "<displayed>", v)

	v, err = Lookup("$.type", ev)
	require.NoError(t, err)
	assert.Equal(t, "sh.keptn.event.deployment.triggered", v)

	_, err = Lookup("$.data.labels.nope", ev)
	assert.EqualError(t, err, "$.data.labels.nope: unknown key nope")

	_, err = Lookup("$.data[", ev)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid JSONPath "$.data["`)
}

func TestFormatValue(t *testing.T) {
	obj := map[string]any{"b": []any{"x", 1.0}, "a": "s"}
	tests := []struct {
		name string
		v    any
		as   string
		want string
	}{
		{"string", "hello", "", "hello"},
		{"string as string", "hello", "string", "hello"},
		{"string as json is quoted", "hello", "json", `"hello"`},
		{"string as yaml", "hello", "yaml", "hello\n"},
		{"integer-valued number, not 1e+06", 1e6, "", "1000000"},
		{"fraction", 1.5, "", "1.5"},
		{"json.Number", json.Number("12"), "", "12"},
		{"boolean", true, "", "true"},
		{"null is empty", nil, "", ""},
		{"map is json (JES)", obj, "", `{"a":"s","b":["x",1]}`},
		{"list is json (JES printed [x 1])", []any{"x", 1.0}, "", `["x",1]`},
		{"map as json", obj, "json", `{"a":"s","b":["x",1]}`},
		{"map as yaml, like JES's yaml.v2", obj, "yaml", "a: s\nb:\n- x\n- 1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FormatValue(tc.v, tc.as)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := FormatValue("x", "xml")
	assert.EqualError(t, err, `unknown format "xml" (want json, yaml or string)`)
}

// TestEnvEventValue runs the env end-to-end scenario's config against its
// event.
func TestEnvEventValue(t *testing.T) {
	data, err := os.ReadFile(configFixture("env.yaml"))
	require.NoError(t, err)
	cfg, err := Parse("job/config.yaml", data)
	require.NoError(t, err)
	ev := mappedEvent(t, "e2e/env.triggered.json")

	env := cfg.Actions[0].Tasks[1].Env
	require.Len(t, env, 3)
	// JES's e2e test expects encoding/json's HTML escaping of < and >.
	want := []string{"JSON_PATH_LABEL_VALUE", "<displayed>", `{"jsonPathArray":["\u003cnot-displayed\u003e","\u003cdisplayed\u003e"]}`}
	for i, w := range want {
		got, err := env[i].EventValue(ev)
		require.NoError(t, err, env[i].Name)
		assert.Equal(t, w, got, env[i].Name)
	}

	delete(ev["data"].(map[string]any), "labels")
	_, err = env[0].EventValue(ev)
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "job/config.yaml:22:20: actions[0].tasks[1].env[0].value: finds nothing in the event: $.data.labels.jsonPathLabel: unknown key labels", err.Error())

	_, err = cfg.Actions[0].Tasks[3].Env[0].EventValue(ev)
	assert.EqualError(t, err, `job/config.yaml:53:20: actions[0].tasks[3].env[0].value: not a valueFrom: event entry (valueFrom is "string")`)
}

func TestConfigErrorf(t *testing.T) {
	cfg := &Config{File: "job/config.yaml"}
	err := cfg.Errorf(Pos{Line: 3, Column: 7, Path: "actions[0].tasks[1]"}, "securityContext.privileged", "%s is not allowed", "true")
	assert.Equal(t, "job/config.yaml:3:7: actions[0].tasks[1].securityContext.privileged: true is not allowed", err.Error())
	err = cfg.Errorf(Pos{Line: 3, Column: 7, Path: "actions[0]"}, "", "bad")
	assert.Equal(t, "job/config.yaml:3:7: actions[0]: bad", err.Error())
}

// The function caches parsed configs and matches events concurrently; run
// with -race this shows Match and EventValue only read the Config.
func TestMatchConcurrent(t *testing.T) {
	data, err := os.ReadFile(configFixture("env.yaml"))
	require.NoError(t, err)
	cfg, err := Parse("job/config.yaml", data)
	require.NoError(t, err)
	ev := mappedEvent(t, "e2e/env.triggered.json")
	done := make(chan []int)
	for range 8 {
		go func() {
			var got []int
			for range 100 {
				got = cfg.Match("sh.keptn.event.deployment.triggered", ev)
				_, _ = cfg.Actions[0].Tasks[1].Env[0].EventValue(ev)
			}
			done <- got
		}()
	}
	for range 8 {
		assert.Equal(t, []int{0}, <-done)
	}
}
