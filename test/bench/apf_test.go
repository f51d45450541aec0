package bench

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
)

// apiServerMetrics scrapes the API server's /metrics with the admin
// client (the function's account may not read them).
func (w *world) apiServerMetrics() telemetrytest.Samples {
	raw, err := w.kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	must(w.tb, err)
	ss, err := telemetrytest.Parse(bytes.NewReader(raw))
	must(w.tb, err)
	return ss
}

// apfReport prints, between two scrapes, what API Priority and Fairness
// did with the requests of the run, by flow schema and priority level:
// dispatched, rejected (429) and the time they waited in its queues.
func (w *world) apfReport(before, after telemetrytest.Samples) {
	type key struct{ schema, level string }
	diff := func(name string, k key, extra ...string) float64 {
		want := append([]string{"flow_schema", k.schema, "priority_level", k.level}, extra...)
		return after.Sum(name, want...) - before.Sum(name, want...)
	}
	seen := map[key]bool{}
	for _, s := range after {
		if s.Name == "apiserver_flowcontrol_dispatched_requests_total" {
			seen[key{s.Labels["flow_schema"], s.Labels["priority_level"]}] = true
		}
	}
	var keys []key
	for k := range seen {
		if diff("apiserver_flowcontrol_dispatched_requests_total", k) >= 100 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].schema < keys[j].schema })
	var parts []string
	for _, k := range keys {
		n := diff("apiserver_flowcontrol_dispatched_requests_total", k)
		waitSum := diff("apiserver_flowcontrol_request_wait_duration_seconds_sum", k, "execute", "true")
		waitN := diff("apiserver_flowcontrol_request_wait_duration_seconds_count", k, "execute", "true")
		mean := 0.0
		if waitN > 0 {
			mean = waitSum / waitN * 1000
		}
		parts = append(parts, fmt.Sprintf("%s/%s: %.0f dispatched, %.0f rejected, mean queue wait %.2f ms",
			k.schema, k.level, n, diff("apiserver_flowcontrol_rejected_requests_total", k), mean))
	}
	summary("APF during the run (flow schema/priority level, ≥100 requests): %s", strings.Join(parts, "; "))
	rejected := diff("apiserver_flowcontrol_rejected_requests_total", key{"service-accounts", "workload-low"})
	goal("APF: the function's requests rejected (429) under the default service-accounts/workload-low", "0", fmt.Sprintf("%.0f", rejected), rejected == 0)
}
