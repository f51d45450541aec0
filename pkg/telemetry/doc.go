// Package telemetry is what the function tells operators besides its logs:
// OpenTelemetry metrics exported for Prometheus (Metrics), the Kubernetes
// API calls it makes (Metrics.Transport), and Kubernetes Events on each Job
// for its main transitions (JobEvents). Observer connects both to the
// hooks of pkg/launch and pkg/reporter. docs/observability.md lists every
// metric and event.
package telemetry
