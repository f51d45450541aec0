package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
)

// BenchmarkAPICalls counts what one triggered event costs in calls, from
// the function's own counter of Kubernetes API requests (its transport is
// wrapped) and the Keptn stand-in's request log: events are sent one after
// another, all at one commit, to a freshly started function.
func BenchmarkAPICalls(b *testing.B) {
	events := envInt("BENCH_CALL_EVENTS", 20)
	w := newWorld(b, "alpine:3.20")
	fnBin, _ := binaries(b)
	client := httpClient(1)
	for b.Loop() {
		fn := startProcess(b, fnBin, w.functionEnv("bench-calls"), true)
		fn.waitReady(b)
		before, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		keptnBefore := w.keptn.RequestCounts()
		ctx := ctxFor(b, time.Minute)
		for range events {
			if _, err := post(ctx, client, fn.url, w.triggered()); err != nil {
				b.Fatal(err)
			}
		}
		// The records of .started (a patch each) and the Kubernetes Events
		// (one each: Created) are written after the answers: wait for all
		// of them, or the last event's are counted as missing.
		var after telemetrytest.Samples
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			var err error
			after, err = telemetrytest.Fetch(fn.metrics)
			must(b, err)
			written := min(after.Sum(telemetry.MetricKubeRequests, "verb", "create", "resource", "events.events.k8s.io"),
				after.Sum(telemetry.MetricKubeRequests, "verb", "patch", "resource", "jobs.batch"))
			if written >= float64(events) || time.Now().After(deadline) {
				break
			}
		}
		keptnAfter := w.keptn.RequestCounts()
		var keptnCalls []string
		for k, v := range keptnAfter {
			if d := v - keptnBefore[k]; d > 0 {
				keptnCalls = append(keptnCalls, fmt.Sprintf("%s: %d", k, d))
			}
		}
		summary("API calls per event (n=%d, one commit, fresh function): Kubernetes: %s", events, kubeCallsPerEvent(before, after, float64(events)))
		summary("API calls in all to Keptn for %d events: %s (config fetched once per commit: %d of %s)", events, strings.Join(keptnCalls, "; "),
			keptnAfter[keptnstandin.KeyServiceResource]-keptnBefore[keptnstandin.KeyServiceResource], "GET .../service/{serviceName}/resource/{resourceURI}")
		b.ReportMetric(after.Sum(telemetry.MetricKubeRequests, "verb", "create", "resource", "jobs.batch")/float64(events), "job-creates/event")
		fn.stop()
	}
}
