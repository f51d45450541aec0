package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// MeterName is the instrumentation scope of every instrument.
const MeterName = "github.com/keptn-sandbox/job-executor-knative"

// Metric names as Prometheus shows them (the exporter adds _total to
// counters and the unit to histograms).
const (
	MetricEvents         = "job_executor_events_total"
	MetricJobsCreated    = "job_executor_jobs_created_total"
	MetricReports        = "job_executor_reports_total"
	MetricReportLatency  = "job_executor_report_latency_seconds"
	MetricSweepDuration  = "job_executor_sweep_duration_seconds"
	MetricClaimConflicts = "job_executor_claim_conflicts_total"
	MetricKubeRequests   = "job_executor_kube_requests_total"
	MetricEventsQueued   = "job_executor_kube_events_queued"
	MetricEventsDropped  = "job_executor_kube_events_dropped_total"
)

// maxEventTypes bounds the distinct values of the events' type label: event
// types come from the network, and a sender must not be able to grow the
// metrics without bound. Types seen after the limit count as "other".
const maxEventTypes = 64

// Metrics holds the function's instruments and the registry they are
// exported from. Each Metrics has its own registry, so replicas started in
// one process (tests) do not mix. A nil *Metrics records nothing.
type Metrics struct {
	reg      *prometheus.Registry
	provider *sdkmetric.MeterProvider

	events         metric.Int64Counter
	jobsCreated    metric.Int64Counter
	reports        metric.Int64Counter
	reportLatency  metric.Float64Histogram
	sweepDuration  metric.Float64Histogram
	claimConflicts metric.Int64Counter
	kubeRequests   metric.Int64Counter
	eventsDropped  metric.Int64Counter
	meter          metric.Meter

	typesMu sync.Mutex
	types   map[string]bool
}

// latencyBuckets (seconds) cover a report sent at once to one a sweep
// sent minutes later.
var latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}

// NewMetrics creates the instruments and a Prometheus registry holding
// them, the Go runtime's and the process's metrics.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	meter := provider.Meter(MeterName)
	m := &Metrics{reg: reg, provider: provider, meter: meter, types: map[string]bool{}}
	var errs [8]error
	m.events, errs[0] = meter.Int64Counter("job_executor.events",
		metric.WithDescription("CloudEvents handled, by type and outcome"))
	m.jobsCreated, errs[1] = meter.Int64Counter("job_executor.jobs.created",
		metric.WithDescription("Jobs created, by kind: task (an action runs) or record (an action that cannot run)"))
	m.reports, errs[2] = meter.Int64Counter("job_executor.reports",
		metric.WithDescription("Keptn responses sent, by kind (started, finished), status and result"))
	m.reportLatency, errs[3] = meter.Float64Histogram("job_executor.report.latency",
		metric.WithUnit("s"),
		metric.WithDescription("From a Job's terminal condition (lastTransitionTime, whole seconds) to its .finished sent"),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	m.sweepDuration, errs[4] = meter.Float64Histogram("job_executor.sweep.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of one sweep of unreported Jobs (PingSource tick)"),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	m.claimConflicts, errs[5] = meter.Int64Counter("job_executor.claim.conflicts",
		metric.WithDescription("Attempts to send a response that found its claim held by another attempt or replica"))
	m.kubeRequests, errs[6] = meter.Int64Counter("job_executor.kube.requests",
		metric.WithDescription("Kubernetes API requests, by verb, resource and HTTP status code"))
	m.eventsDropped, errs[7] = meter.Int64Counter("job_executor.kube.events.dropped",
		metric.WithDescription("Kubernetes Events not recorded because the queue was full, by reason"))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.provider.Shutdown(ctx)
}

// Event counts one handled CloudEvent.
func (m *Metrics) Event(ctx context.Context, eventType, outcome string) {
	if m == nil {
		return
	}
	m.events.Add(ctx, 1, metric.WithAttributes(
		attribute.String("type", m.typeLabel(eventType)),
		attribute.String("outcome", outcome)))
}

func (m *Metrics) typeLabel(t string) string {
	m.typesMu.Lock()
	defer m.typesMu.Unlock()
	if m.types[t] {
		return t
	}
	if len(m.types) >= maxEventTypes {
		return "other"
	}
	m.types[t] = true
	return t
}

// JobCreated counts one Job created; kind is "task" or "record".
func (m *Metrics) JobCreated(ctx context.Context, kind string) {
	if m == nil {
		return
	}
	m.jobsCreated.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind)))
}

// Report counts one response sent; kind is "started" or "finished", status
// and result are those of a .finished (empty for .started).
func (m *Metrics) Report(ctx context.Context, kind, status, result string) {
	if m == nil {
		return
	}
	m.reports.Add(ctx, 1, metric.WithAttributes(
		attribute.String("kind", kind),
		attribute.String("status", status),
		attribute.String("result", result)))
}

// ReportLatency records the time from a Job's end to its .finished sent.
func (m *Metrics) ReportLatency(ctx context.Context, d time.Duration) {
	if m == nil {
		return
	}
	m.reportLatency.Record(ctx, max(d, 0).Seconds())
}

// Sweep records the duration of one sweep.
func (m *Metrics) Sweep(ctx context.Context, d time.Duration) {
	if m == nil {
		return
	}
	m.sweepDuration.Record(ctx, d.Seconds())
}

// ClaimConflict counts one attempt that found the claim (annotation key)
// held by another.
func (m *Metrics) ClaimConflict(ctx context.Context, claim string) {
	if m == nil {
		return
	}
	m.claimConflicts.Add(ctx, 1, metric.WithAttributes(attribute.String("claim", claim)))
}

func (m *Metrics) kubeRequest(ctx context.Context, verb, resource, code string) {
	m.kubeRequests.Add(ctx, 1, metric.WithAttributes(
		attribute.String("verb", verb),
		attribute.String("resource", resource),
		attribute.String("code", code)))
}

func (m *Metrics) eventDropped(ctx context.Context, reason string) {
	if m == nil {
		return
	}
	m.eventsDropped.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

// observeEventQueue exports the length of the Kubernetes Events queue.
func (m *Metrics) observeEventQueue(length func() int64) error {
	if m == nil {
		return nil
	}
	_, err := m.meter.Int64ObservableGauge("job_executor.kube.events.queued",
		metric.WithDescription("Kubernetes Events waiting to be written"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(length())
			return nil
		}))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
