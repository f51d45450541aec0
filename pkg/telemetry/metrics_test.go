package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
)

// scrape serves m's handler on loopback and reads it as Prometheus does.
func scrape(t *testing.T, m *Metrics) telemetrytest.Samples {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	ss, err := telemetrytest.Fetch(srv.URL + "/metrics")
	require.NoError(t, err)
	return ss
}

func TestMetricsMove(t *testing.T) {
	m, err := NewMetrics()
	require.NoError(t, err)
	ctx := context.Background()
	const triggered = "sh.keptn.event.test.triggered"
	m.Event(ctx, triggered, "created")
	m.Event(ctx, triggered, "created")
	m.Event(ctx, triggered, "malformed")
	m.JobCreated(ctx, "task")
	m.JobCreated(ctx, "task")
	m.JobCreated(ctx, "record")
	m.Report(ctx, "started", "", "")
	m.Report(ctx, "finished", "succeeded", "pass")
	m.ReportLatency(ctx, 300*time.Millisecond)
	m.ReportLatency(ctx, -time.Second) // clock skew counts as 0
	m.Sweep(ctx, 2*time.Second)
	m.ClaimConflict(ctx, "report-claim")

	ss := scrape(t, m)
	tests := []struct {
		name  string
		label []string
		want  float64
	}{
		{MetricEvents, []string{"type", triggered, "outcome", "created"}, 2},
		{MetricEvents, []string{"type", triggered, "outcome", "malformed"}, 1},
		{MetricJobsCreated, []string{"kind", "task"}, 2},
		{MetricJobsCreated, []string{"kind", "record"}, 1},
		{MetricReports, []string{"kind", "started"}, 1},
		{MetricReports, []string{"kind", "finished", "status", "succeeded", "result", "pass"}, 1},
		{MetricReportLatency + "_count", nil, 2},
		{MetricReportLatency + "_sum", nil, 0.3},
		{MetricReportLatency + "_bucket", []string{"le", "0.25"}, 1},
		{MetricReportLatency + "_bucket", []string{"le", "0.5"}, 2},
		{MetricSweepDuration + "_count", nil, 1},
		{MetricSweepDuration + "_sum", nil, 2},
		{MetricClaimConflicts, []string{"claim", "report-claim"}, 1},
	}
	for _, tt := range tests {
		assert.InDelta(t, tt.want, ss.Sum(tt.name, tt.label...), 1e-9, "%s %v", tt.name, tt.label)
	}
	assert.True(t, ss.Has("process_resident_memory_bytes"), "process metrics are exported")
	assert.True(t, ss.Has("go_goroutines"), "Go runtime metrics are exported")
}

func TestEventTypesAreBounded(t *testing.T) {
	m, err := NewMetrics()
	require.NoError(t, err)
	ctx := context.Background()
	for i := range maxEventTypes + 10 {
		m.Event(ctx, fmt.Sprintf("type-%d", i), "ignored")
	}
	m.Event(ctx, "type-0", "ignored")
	ss := scrape(t, m)
	assert.Equal(t, float64(10), ss.Sum(MetricEvents, "type", "other"))
	assert.Equal(t, float64(2), ss.Sum(MetricEvents, "type", "type-0"), "a type seen before the limit keeps its label")
	assert.False(t, ss.Has(MetricEvents, "type", fmt.Sprintf("type-%d", maxEventTypes)))
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	ctx := context.Background()
	m.Event(ctx, "t", "o")
	m.JobCreated(ctx, "task")
	m.Report(ctx, "started", "", "")
	m.ReportLatency(ctx, time.Second)
	m.Sweep(ctx, time.Second)
	m.ClaimConflict(ctx, "c")
	assert.NoError(t, m.Shutdown(ctx))
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, 404, rec.Code)
}
