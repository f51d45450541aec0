package telemetrytest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `# HELP job_executor_events_total CloudEvents handled
# TYPE job_executor_events_total counter
job_executor_events_total{outcome="created",type="sh.keptn.event.test.triggered"} 3
job_executor_events_total{outcome="ignored",type="sh.keptn.event.test.triggered"} 1
job_executor_report_latency_seconds_bucket{le="+Inf"} 2
job_executor_report_latency_seconds_sum 0.75
weird{a="x\"y",b="line\nbreak" , c="back\\slash"} 1e3 1700000000000
go_goroutines 12
`

func TestParse(t *testing.T) {
	ss, err := Parse(strings.NewReader(sample))
	require.NoError(t, err)
	require.Len(t, ss, 6)
	tests := []struct {
		name string
		want []string
		sum  float64
		has  bool
	}{
		{"job_executor_events_total", nil, 4, true},
		{"job_executor_events_total", []string{"outcome", "created"}, 3, true},
		{"job_executor_events_total", []string{"outcome", "retry"}, 0, false},
		{"job_executor_report_latency_seconds_bucket", []string{"le", "+Inf"}, 2, true},
		{"job_executor_report_latency_seconds_sum", nil, 0.75, true},
		{"weird", []string{"a", `x"y`, "b", "line\nbreak", "c", `back\slash`}, 1000, true},
		{"go_goroutines", nil, 12, true},
		{"missing", nil, 0, false},
	}
	for _, tt := range tests {
		assert.InDelta(t, tt.sum, ss.Sum(tt.name, tt.want...), 1e-9, "%s %v", tt.name, tt.want)
		assert.Equal(t, tt.has, ss.Has(tt.name, tt.want...), "%s %v", tt.name, tt.want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{a=\"b\"} 1", "line 1: no metric name"},
		{"ok 1\nm{a=b} 1", "line 2: want label=\"value\""},
		{"m{a=\"b} 1", "unterminated value"},
		{"m notanumber", "value of m"},
		{"m", "no metric name"},
		{"m 1 2 3", "want a value"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in))
		require.Error(t, err, tt.in)
		assert.Contains(t, err.Error(), tt.want, tt.in)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("m{a=\"\\\"\"} 1")
	f.Add("m{")
	f.Fuzz(func(t *testing.T, in string) {
		ss, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, s := range ss {
			if s.Name == "" {
				t.Fatalf("sample without a name from %q", in)
			}
		}
	})
}
