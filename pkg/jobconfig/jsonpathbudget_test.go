package jobconfig

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nested is the probe's event data: lists nested depth deep, 2 bytes a
// level ([[[…]]]).
func nested(depth int) map[string]any {
	var v any = []any{}
	for range depth {
		v = []any{v}
	}
	return map[string]any{"data": map[string]any{"deep": v}}
}

func TestJSONPathPrice(t *testing.T) {
	for _, d := range []int{10, 40, 80, 160} {
		doc := nested(d)
		price := jsonPathWork("$..*", shapeOf(doc), 1<<62)
		eval, err := compileJSONPath("$..*")
		require.NoError(t, err)
		var v any
		alloc := allocated(func() { v, err = evaluateIn(context.Background(), eval, "$..*", doc) })
		require.NoError(t, err)
		_, err = FormatValue(v, "")
		require.NoError(t, err)
		// The evaluator's work shows as allocation (key paths, closures);
		// the price bounds it from above, with room for bytes per step.
		assert.LessOrEqual(t, alloc, uint64(64*price), "depth %d: price %d, allocated %d", d, price, alloc)
		t.Logf("depth %d: price %d, allocated %d", d, price, alloc)
	}
}

func TestJSONPathBudget(t *testing.T) {
	const deepEnv = head + "        env:\n          - {name: ALL, value: '$..*', valueFrom: event}\n"
	cfg, err := Parse("job/config.yaml", []byte(deepEnv))
	require.NoError(t, err)
	env := cfg.Actions[0].Tasks[0].Env[0]
	deep := nested(3000)
	raw, err := json.Marshal(deep)
	require.NoError(t, err)
	require.Less(t, len(raw), 7000, "the probe's 6 KB event")

	t.Run("env value over the budget", func(t *testing.T) {
		var err error
		alloc := allocated(func() { _, err = env.EventValue(deep) })
		require.Error(t, err)
		assert.Equal(t, "job/config.yaml:10:32: actions[0].tasks[0].env[0].value: $..* would take more than the 16777216 steps one JSONPath may take on this event (3003 values, 3002 deep, up to 1 in one object or list): recursive descent (..), wildcards and filters multiply; name the path instead", err.Error())
		assert.Less(t, alloc, uint64(1<<20), "refused before it is evaluated")
	})
	t.Run("filter over the budget", func(t *testing.T) {
		cfg, err := Parse("job/config.yaml", []byte(strings.Replace(head, "      - name: sh.keptn.event.test.triggered\n",
			"      - name: sh.keptn.event.test.triggered\n        jsonpath: {property: '$..*', match: x}\n", 1)))
		require.NoError(t, err)
		var got []int
		var errs ErrorList
		alloc := allocated(func() {
			got, errs = cfg.MatchEvent("sh.keptn.event.test.triggered", NewEventReader(context.Background(), deep))
		})
		assert.Empty(t, got, "a filter that is not evaluated does not match")
		require.Len(t, errs, 1)
		assert.Regexp(t, `^job/config.yaml:6:19: actions\[0\]\.events\[0\]\.jsonpath\.property: \$\.\.\* would take more than the 16777216 steps one JSONPath may take`, errs[0].Error())
		assert.Less(t, alloc, uint64(1<<20))
	})
	t.Run("per event", func(t *testing.T) {
		// Each of these is allowed; all of them together are not.
		doc := nested(200)
		price := jsonPathWork("$..*", shapeOf(doc), 1<<62)
		require.LessOrEqual(t, price, int64(MaxJSONPathWork))
		r := NewEventReader(context.Background(), doc)
		var refused error
		for range MaxJSONPathWorkPerEvent/price + 1 {
			if _, refused = env.ValueIn(r); refused != nil {
				break
			}
		}
		require.Error(t, refused)
		assert.Contains(t, refused.Error(), "$..* is not evaluated: the config's JSONPaths would take more than 67108864 steps on this event in all")
	})
	t.Run("request gone", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := env.ValueIn(NewEventReader(ctx, map[string]any{"data": map[string]any{"a": 1}}))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not evaluated: context canceled")
	})
	t.Run("a real event is cheap", func(t *testing.T) {
		ev := map[string]any{"data": map[string]any{"project": "p", "stage": "s", "service": "v",
			"deployment": map[string]any{"deploymentURIsLocal": []any{"http://a", "http://b"}, "deploymentNames": []any{"x"}},
			"labels":     map[string]any{"a": "1", "b": "2"}}}
		for _, expr := range []string{"$.data.deployment.deploymentURIsLocal[0]", "$..deploymentURIsLocal[*]", "$.data.labels[?(@ == '1')]", "$..*", `$.data["project","stage"]`} {
			price := jsonPathWork(expr, shapeOf(ev), MaxJSONPathWork)
			assert.Less(t, price, int64(1<<16), expr)
			_, err := Lookup(expr, ev)
			assert.NoError(t, err, expr)
		}
	})
}

func TestJSONPathSteps(t *testing.T) {
	tests := []struct {
		expr string
		want []jsonPathStep
	}{
		{"$.a.b", []jsonPathStep{{kind: stepKeys, keys: 1}, {kind: stepKeys, keys: 1}}},
		{"$..*", []jsonPathStep{{kind: stepDescend}, {kind: stepWildcard}}},
		{"$..a", []jsonPathStep{{kind: stepDescend}, {kind: stepKeys, keys: 1}}},
		{"$.a[*]", []jsonPathStep{{kind: stepKeys, keys: 1}, {kind: stepWildcard}}},
		{"$.a[1:3]", []jsonPathStep{{kind: stepKeys, keys: 1}, {kind: stepWildcard}}},
		{"$['a','b,c']", []jsonPathStep{{kind: stepKeys, keys: 2}}},
		{"$.a[?(@..b == 1)]", []jsonPathStep{{kind: stepKeys, keys: 1}, {kind: stepWildcard, inner: "(@..b == 1)"}}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, jsonPathSteps(tc.expr), tc.expr)
	}
}

// FuzzJSONPathWork: pricing never panics, and a larger event never makes a
// path cheaper; an evaluation let through never panics either.
func FuzzJSONPathWork(f *testing.F) {
	for _, s := range []string{"$..*", "$.data..x[*]", "$[?(@..a)]..b", "$['a','b'][0:2]", "$.(a)", "$[", "$..[?(@.x=='[')]"} {
		f.Add(s, `{"data":{"a":[1,[2,[3]]],"b":{"x":"y"}}}`)
	}
	f.Fuzz(func(t *testing.T, expr, data string) {
		var doc map[string]any
		if json.Unmarshal([]byte(data), &doc) != nil {
			return
		}
		sh := shapeOf(doc)
		price := jsonPathWork(expr, sh, MaxJSONPathWork)
		if price < 1 {
			t.Fatalf("%q priced %d", expr, price)
		}
		bigger := shape{nodes: sh.nodes * 2, depth: sh.depth + 1, width: sh.width + 1}
		if p2 := jsonPathWork(expr, bigger, MaxJSONPathWork); p2 < price {
			t.Fatalf("%q: %d on %+v, %d on the larger %+v", expr, price, sh, p2, bigger)
		}
		if eval, err := compileJSONPath(expr); err == nil {
			_, _ = NewEventReader(context.Background(), doc).evaluate(eval, expr)
		}
	})
}
