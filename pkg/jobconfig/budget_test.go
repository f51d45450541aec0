package jobconfig

import (
	"fmt"
	"regexp/syntax"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig/jobconfigtest"
)

// allocated is the bytes f allocates: the budgets are checked as work not
// done, never as time.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestParseBudgets(t *testing.T) {
	t.Run("alias bomb of bytes", func(t *testing.T) {
		doc := jobconfigtest.AliasBomb(head)
		require.LessOrEqual(t, len(doc), DefaultLimits().MaxBytes, "the file itself is within the size limit")
		var err error
		var cfg *Config
		alloc := allocated(func() { cfg, err = Parse("job/config.yaml", []byte(doc)) })
		require.Error(t, err)
		assert.Equal(t, []int{0}, cfg.Match("sh.keptn.event.test.triggered", nil), "the action can still be failed with the error")
		// The anchor is 190,000 bytes; with it, the sixth alias passes 1 MiB.
		assert.Equal(t, "job/config.yaml:10:36: this alias makes the document expand to more than 1048576 bytes of values (aliases included; the file is 260178 bytes)", err.Error())
		assert.Less(t, alloc, uint64(64<<20), "refused before anything is expanded")
	})
	t.Run("heavy regular expressions", func(t *testing.T) {
		doc := jobconfigtest.HeavyRegexps(4, 32, "alpine", "")
		var err error
		alloc := allocated(func() { _, err = Parse("job/config.yaml", []byte(doc)) })
		var list ErrorList
		require.ErrorAs(t, err, &list)
		require.Len(t, list, 128, "every event name is refused")
		assert.Equal(t, "job/config.yaml:5:15: actions[0].events[0].name: this regular expression compiles to more than 2048 instructions (a bounded repetition such as {1,999} is copied that many times; use * or + instead)", list[0].Error())
		assert.Less(t, alloc, uint64(64<<20), "refused before any program is built")
	})
	t.Run("regular expressions in all", func(t *testing.T) {
		// 40 names of ~1000 instructions each: each is allowed, all are not.
		name := "sh\\.keptn\\.event\\.[a-z]{1,300}\\.triggered"
		doc := "apiVersion: v2\nactions:\n"
		for a := range 2 {
			doc += fmt.Sprintf("  - name: a%d\n    events:\n", a)
			for range 20 {
				doc += "      - name: '" + name + "'\n"
			}
			doc += "    tasks:\n      - name: t\n        image: alpine\n"
		}
		_, err := Parse("job/config.yaml", []byte(doc))
		var list ErrorList
		require.ErrorAs(t, err, &list)
		require.Len(t, list, 1, "reported once")
		assert.Contains(t, list[0].Error(), "the config's event names compile to more than 32768 regular-expression instructions in all")
		assert.Regexp(t, `^job/config.yaml:\d+:15: actions\[1\]\.events\[\d+\]\.name: `, list[0].Error())
	})
	t.Run("total cost", func(t *testing.T) {
		doc := head + "        args: [" + strings.Repeat("a,", 40_000) + "a]\n"
		_, err := Parse("job/config.yaml", []byte(doc), WithLimits(Limits{MaxCost: 1 << 20}))
		require.Error(t, err)
		assert.Equal(t, "job/config.yaml:9:63518: the config costs more than 1048576 bytes to hold (values and YAML nodes as aliases expand them, 32 bytes per YAML node, 64 bytes per regular-expression instruction); split it or simplify its event names", err.Error())
		cfg, err := Parse("job/config.yaml", []byte(doc))
		require.NoError(t, err, "within the default cost")
		assert.Greater(t, cfg.Cost, int64(40_000*nodeCost))
	})
	t.Run("a real config is cheap", func(t *testing.T) {
		cfg, err := Parse("job/config.yaml", []byte(head))
		require.NoError(t, err)
		assert.Less(t, cfg.Cost, int64(16<<10))
	})
}

// FuzzRegexpProgram: the estimate is an upper bound of the program Go
// really compiles, so a name under the limit never builds more.
func FuzzRegexpProgram(f *testing.F) {
	for _, s := range []string{"sh\\.keptn\\.event\\.test\\.triggered", "(a|b)*c", "[a-z]{1,999}", "x{2,}", "(?i)abc", "a{0}", "(?:a+|b?){3,5}", "^$", "\\bx\\B", "(?s).", "[^a]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		const limit = 4096
		est, err := regexpProgram(anchored(expr), limit)
		if err != nil || est > limit {
			return
		}
		re, err := syntax.Parse(anchored(expr), syntax.Perl)
		if err != nil {
			t.Fatalf("estimated but not parsed: %v", err)
		}
		prog, err := syntax.Compile(re.Simplify())
		if err != nil {
			return
		}
		if len(prog.Inst) > est {
			t.Fatalf("%q: estimated %d instructions, compiled %d", expr, est, len(prog.Inst))
		}
	})
}

// FuzzExpansion: the walk that locates an over-limit document finds a node
// exactly when the memoised size says it is over, whatever the aliases.
func FuzzExpansion(f *testing.F) {
	f.Add("a: &a [x, y]\nb: [*a, *a, *a]\n", 6, 10)
	f.Add("a: &a xxxxxxxx\nb: [*a, *a]\n", 100, 20)
	f.Add(jobconfigtest.AliasBomb(head)[:300], 1000, 100)
	f.Fuzz(func(t *testing.T, doc string, maxNodes, maxBytes int) {
		if maxNodes < 1 || maxBytes < 1 || maxNodes > 1<<20 || maxBytes > 1<<24 {
			return
		}
		var n yaml.Node
		if yaml.Unmarshal([]byte(doc), &n) != nil {
			return
		}
		x := newExpander(Limits{MaxNodes: maxNodes, MaxExpandedBytes: maxBytes})
		over := x.over(x.size(&n))
		var total expansion
		at := x.firstOver(&n, &total)
		if over != (at != nil) {
			t.Fatalf("size says over=%v, walk found %v", over, at)
		}
		if over {
			return
		}
		costLimit := int64(maxBytes)
		var cost int64
		at = x.firstOverCost(&n, &cost, costLimit)
		if (x.size(&n).cost() > costLimit) != (at != nil) {
			t.Fatalf("cost %d against %d, walk found %v", x.size(&n).cost(), costLimit, at)
		}
	})
}
