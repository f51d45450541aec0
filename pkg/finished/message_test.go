package finished

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// measure is the size function the reconciler uses: the api-service body of
// .finished for the test Job.
func measure(t testing.TB) func(keptn.Finished) (int, error) {
	t.Helper()
	o, err := jobs.OriginOf(verdicttest.NewJob())
	require.NoError(t, err)
	return func(f keptn.Finished) (int, error) {
		ev, err := keptn.FinishedEvent("job-executor-knative", "finished-id", o, f, verdicttest.T0)
		if err != nil {
			return 0, err
		}
		body, err := sink.KeptnBody(ev)
		return len(body), err
	}
}

var cutMarker = regexp.MustCompile(`\n\[\.\.\. (at least )?(\d+) bytes cut \.\.\.\]\n`)

func TestComposeKeepsTheEventUnderKeptnsLimit(t *testing.T) {
	size := measure(t)
	long := verdicttest.NoisyLog(20000) // about 1.3 MB, several times that escaped
	f := keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail, Message: "Job x failed: task \"post\" failed with exit code 3 (Error).\ntask \"post\" [task-1-post]: exit code 3, Error"}
	logs := []Log{
		{Title: `task "greet" [task-0-greet]`, Head: "hello from greet\n"},
		{Title: `task "post" [task-1-post]`, Head: long},
		{Title: `task "gone" [task-2-gone]`, Err: "pods \"p\" not found"},
	}
	out, err := Compose(f, logs, KeptnMaxEventBytes, size)
	require.NoError(t, err)
	n, err := size(out)
	require.NoError(t, err)
	assert.LessOrEqual(t, n, KeptnMaxEventBytes)
	assert.Greater(t, n, KeptnMaxEventBytes-2048, "the budget is used, not wasted")

	msg := out.Message
	assert.True(t, strings.HasPrefix(msg, f.Message+"\n\n--- log of task \"greet\" [task-0-greet] ---\nhello from greet\n"), "lines first, then each log")
	assert.Contains(t, msg, "--- log of task \"post\" [task-1-post] ---\nline 0 <b>")
	assert.True(t, strings.HasSuffix(msg, "--- no log of task \"gone\" [task-2-gone]: pods \"p\" not found ---"))
	postLog := msg[strings.Index(msg, "[task-1-post] ---\n")+len("[task-1-post] ---\n") : strings.Index(msg, "\n\n--- no log")]
	assert.True(t, strings.HasSuffix(postLog, "line 19999 <b>\"quoted\"</b> & tab\tünïcødé 🚀 \x01\xff\n"), "the end of the log survives")
	m := cutMarker.FindStringSubmatch(postLog)
	require.NotNil(t, m, "a marker says what was cut")
	cut, _ := strconv.Atoi(m[2])
	assert.Equal(t, len(long), len(postLog)-len(m[0])+cut, "the marker counts exactly the bytes cut")
}

func TestComposeLeavesShortLogsWhole(t *testing.T) {
	f := keptn.Finished{Status: keptn.StatusSucceeded, Result: keptn.ResultPass, Message: "Job x succeeded."}
	out, err := Compose(f, []Log{{Title: "a", Head: "one\n"}, {Title: "b", Head: "two", Tail: "three", Cut: 0}}, KeptnMaxEventBytes, measure(t))
	require.NoError(t, err)
	assert.Equal(t, "Job x succeeded.\n\n--- log of a ---\none\n\n\n--- log of b ---\ntwothree", out.Message)
}

func TestComposeShowsWhatFetchingAlreadyCut(t *testing.T) {
	f := keptn.Finished{Status: keptn.StatusSucceeded, Result: keptn.ResultPass, Message: "m"}
	out, err := Compose(f, []Log{{Title: "a", Head: "start", Tail: "end", Cut: 5 << 20, AtLeast: true}}, KeptnMaxEventBytes, measure(t))
	require.NoError(t, err)
	assert.Equal(t, "m\n\n--- log of a ---\nstart\n[... at least 5242880 bytes cut ...]\nend", out.Message)
}

func TestComposeSharesTheBudgetFairly(t *testing.T) {
	size := measure(t)
	f := keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail, Message: "m"}
	a, b := strings.Repeat("a", 100<<10), strings.Repeat("b", 100<<10)
	out, err := Compose(f, []Log{{Title: "a", Head: a}, {Title: "b", Head: b}}, 20<<10, size)
	require.NoError(t, err)
	na, nb := strings.Count(out.Message, "a"), strings.Count(out.Message, "b")
	assert.InDelta(t, na, nb, 64, "two long logs get equal shares")
}

func TestComposeCutsAnOversizedHeader(t *testing.T) {
	size := measure(t)
	var lines []string
	for i := range 5000 {
		lines = append(lines, "task \"t"+strconv.Itoa(i)+"\" [task-"+strconv.Itoa(i)+"]: not run")
	}
	f := keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail, Message: strings.Join(lines, "\n"),
		Extra: map[string]any{"test": map[string]any{"start": "s", "end": "e"}, "big": map[string]any{"x": strings.Repeat("x", 70<<10)}}}
	out, err := Compose(f, []Log{{Title: "a", Head: "log"}}, KeptnMaxEventBytes, size)
	require.NoError(t, err)
	n, err := size(out)
	require.NoError(t, err)
	assert.LessOrEqual(t, n, KeptnMaxEventBytes)
	assert.Contains(t, out.Extra, "test", "lighthouse still gets data.test")
	assert.NotContains(t, out.Extra, "big")
	assert.Contains(t, out.Message, "structured results dropped")
	assert.Contains(t, out.Message, `task "t4999" [task-4999]: not run`, "the last lines survive")
}

func TestJSONLenMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "<>&", "\u2028\u2029", "\x00\x1f\x7f", "\b\f\n\r\t\"\\", "\xff\xfe", "ü🚀", "a\xe2\x82"} {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, len(b)-2, jsonLen(s), "%q", s)
	}
}

func FuzzJSONLen(f *testing.F) {
	for _, s := range []string{"", "<a&b>", "\u2028", "\xff", "\x00\n", "ü🚀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, len(b)-2, jsonLen(s))
	})
}

// FuzzCutText: whatever the log and the budget, the cut text fits, keeps
// a real head and tail, and its marker counts the bytes cut.
func FuzzCutText(f *testing.F) {
	f.Add("hello world, this is a log\n", "", uint16(0), uint16(10))
	f.Add(strings.Repeat("<&>", 50), "the end\n", uint16(3000), uint16(80))
	f.Add("ü🚀\xffabc", "xyz\x00", uint16(1), uint16(45))
	f.Add("", "", uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, head, tail string, cut, budget uint16) {
		if tail == "" {
			cut = 0
		}
		full := joinCut(head, tail, int64(cut), false)
		out := cutText(head, tail, int64(cut), false, int(budget))
		require.LessOrEqual(t, jsonLen(out), int(budget))
		if out == full || out == "" {
			return
		}
		total := len(head) + int(cut) + len(tail)
		for _, loc := range cutMarker.FindAllStringSubmatchIndex(out, -1) {
			h, t2 := out[:loc[0]], out[loc[1]:]
			n, _ := strconv.Atoi(out[loc[4]:loc[5]])
			src := tail
			if tail == "" {
				src = head
			}
			if strings.HasPrefix(head, h) && strings.HasSuffix(src, t2) && len(h)+n+len(t2) == total {
				if utf8.ValidString(head) && utf8.ValidString(tail) {
					require.True(t, utf8.ValidString(out), "cuts fall on rune boundaries")
				}
				return
			}
		}
		t.Fatalf("%q is not a head, a marker with the count cut, and a tail of %q / %q", out, head, tail)
	})
}

// FuzzCompose: the marshalled event stays within the limit for any log.
func FuzzCompose(f *testing.F) {
	f.Add("a log line\n", uint16(100), uint16(3000))
	f.Add("<<<&&&>>>\u2028\xff", uint16(2000), uint16(1500))
	f.Add("", uint16(0), uint16(1000))
	size := measure(f)
	f.Fuzz(func(t *testing.T, line string, repeat, slack uint16) {
		fin := keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail, Message: "head\nline"}
		base, err := size(fin)
		require.NoError(t, err)
		limit := base + int(slack)
		logs := []Log{{Title: "a", Head: strings.Repeat(line, int(repeat))}, {Title: "b", Head: line, Tail: line, Cut: 7}}
		out, err := Compose(fin, logs, limit, size)
		require.NoError(t, err)
		n, err := size(out)
		require.NoError(t, err)
		require.LessOrEqual(t, n, limit)
		require.True(t, strings.HasPrefix(out.Message, fin.Message), "the lines are never cut for logs")
	})
}

// BenchmarkCompose: the cost of fitting a 1.3 MB noisy log into one event.
func BenchmarkCompose(b *testing.B) {
	size := measure(b)
	f := keptn.Finished{Status: keptn.StatusErrored, Result: keptn.ResultFail, Message: "m"}
	logs := []Log{{Title: "a", Head: verdicttest.NoisyLog(20000)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compose(f, logs, KeptnMaxEventBytes, size); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMaxEventBytesFor(t *testing.T) {
	assert.Equal(t, 63<<10, MaxEventBytesFor(64))
	assert.Equal(t, 7<<10, MaxEventBytesFor(8))
	assert.Equal(t, 896, MaxEventBytesFor(1))
}
