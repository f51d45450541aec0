package jobconfig

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// seedFiles are every config we know: the repository's fixtures and this
// package's testdata.
func seedFiles(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, pattern := range []string{configFixture("*.yaml"), configFixture("rejected/*.yaml"), "testdata/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		f.Fatal("no seed configs found")
	}
	return out
}

// FuzzParse: whatever the bytes, Parse does not panic, always returns a
// Config, and every problem it reports is located at a line >= 1 of the
// named file. A config it accepts satisfies the validation rules.
func FuzzParse(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Add([]byte(head + "        with: |\n          A=1\n"))
	f.Add([]byte("apiVersion: v2\nactions:\n  - &a {name: x, event: y, image: z}\n  - *a\n"))
	f.Add([]byte("apiVersion: v2\nactions: [{name: a, events: [{name: '(', jsonpath: {property: '$[', match: 1}}]}]\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("job/config.yaml", data)
		if cfg == nil {
			t.Fatal("nil Config")
		}
		if len(cfg.Hash) != 64 {
			t.Fatalf("hash %q", cfg.Hash)
		}
		check := func(kind string, l ErrorList) {
			for _, e := range l {
				if e.Line < 1 || e.Column < 0 || e.File != "job/config.yaml" {
					t.Fatalf("%s without a position: %#v", kind, e)
				}
				if strings.HasPrefix(e.Message, "internal error") {
					t.Fatalf("recovered panic: %s", e)
				}
			}
		}
		check("warning", cfg.Warnings)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %v", err)
			}
			check("error", list)
		} else {
			actions := map[string]bool{}
			for _, a := range cfg.Actions {
				if a.Name == "" || actions[a.Name] || len(a.Events) == 0 || len(a.Tasks) == 0 {
					t.Fatalf("accepted an invalid action: %+v", a)
				}
				actions[a.Name] = true
				for _, e := range a.Events {
					if e.re == nil {
						t.Fatalf("accepted event without a compiled name: %+v", e)
					}
				}
				tasks := map[string]bool{}
				for _, task := range a.Tasks {
					if task.Name == "" || tasks[task.Name] || (task.Image == "") == (task.Plugin == "") {
						t.Fatalf("accepted an invalid task: %+v", task)
					}
					tasks[task.Name] = true
				}
			}
		}
		// A partial config must be safe to match against.
		cfg.Match("sh.keptn.event.test.triggered", map[string]any{"data": map[string]any{}})
	})
}

// FuzzMatch: for any event type and event data, Match returns increasing
// indices of actions with tasks, each selected by one of its event names
// matching the whole type.
func FuzzMatch(f *testing.F) {
	var cfgs []*Config
	for _, b := range seedFiles(f) {
		if cfg, err := Parse("job/config.yaml", b); err == nil {
			cfgs = append(cfgs, cfg)
		}
	}
	f.Add("sh.keptn.event.test.triggered", []byte(`{"test":{"teststrategy":"locust"}}`))
	f.Add("sh.keptn.event.action.triggered", []byte(`{"action":{"action":"hello"}}`))
	f.Add("sh.keptn.event.deployment.triggered", []byte(`{"deployment":{"deploymentstrategy":"direct"}}`))
	f.Add("test", []byte(`[1,2]`))
	f.Add("", []byte(`null`))

	f.Fuzz(func(t *testing.T, eventType string, data []byte) {
		var d any
		_ = json.Unmarshal(data, &d)
		event := map[string]any{"type": eventType, "data": d}
		for _, cfg := range cfgs {
			got := cfg.Match(eventType, event)
			last := -1
			for _, i := range got {
				if i <= last || i >= len(cfg.Actions) || len(cfg.Actions[i].Tasks) == 0 {
					t.Fatalf("bad indices %v", got)
				}
				last = i
				named := false
				for _, e := range cfg.Actions[i].Events {
					if ok, _ := regexp.MatchString("^(?:"+e.Name+")$", eventType); ok {
						named = true
					}
				}
				if !named {
					t.Fatalf("action %d matched %q without a matching event name", i, eventType)
				}
			}
		}
	})
}

// FuzzLookup: any JSONPath against any event either finds a value that
// FormatValue can render or returns an error; it never panics.
func FuzzLookup(f *testing.F) {
	f.Add("$.data.labels.jsonPathLabel", []byte(`{"labels":{"jsonPathLabel":"v"}}`))
	f.Add("$.data.additionalData.jsonPathArray[1]", []byte(`{"additionalData":{"jsonPathArray":["a","b"]}}`))
	f.Add("$.data..x", []byte(`{"a":{"x":1},"b":[{"x":2}]}`))
	f.Add("$.data[?(@.x > 1)]", []byte(`[{"x":1},{"x":2}]`))
	f.Add("$[", []byte(`{}`))
	f.Fuzz(func(t *testing.T, expr string, data []byte) {
		var d any
		_ = json.Unmarshal(data, &d)
		v, err := Lookup(expr, map[string]any{"data": d})
		if err != nil {
			return
		}
		for _, as := range []string{"", "json", "yaml"} {
			if _, err := FormatValue(v, as); err != nil {
				t.Fatalf("FormatValue(%#v, %q): %v", v, as, err)
			}
		}
	})
}

func FuzzOtherKind(f *testing.F) {
	f.Add("sh.keptn.event.deployment.finished")
	f.Add(`sh\.keptn\.event\..+\.started$`)
	f.Add("sh.keptn.event.test.triggered")
	f.Add("(finished|triggered)")
	f.Fuzz(func(t *testing.T, name string) {
		kind := otherKind(name)
		if kind == "" {
			return
		}
		if strings.HasSuffix(name, ".triggered") || strings.Contains(name, "|") {
			t.Fatalf("otherKind(%q) = %q for a name that may match .triggered", name, kind)
		}
	})
}
