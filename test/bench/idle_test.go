package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
	"github.com/keptn-sandbox/job-executor-knative/pkg/wake"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// BenchmarkIdle measures what an idle cluster costs in each mode (ping
// only; watch + ping), with the function switching its PingSource
// (SWEEP_PINGSOURCE) and testbed.CronTicker playing the PingSource adapter
// on a compressed clock (one tick = one minute of the schedule): the
// function's wake-ups (requests it handled) in an idle hour before and
// after a burst of Jobs, how many ticks after the last .finished the last
// wake-up comes, and what of ours keeps running while idle.
func BenchmarkIdle(b *testing.B) {
	burst := envInt("BENCH_IDLE_JOBS", 10)
	for _, mode := range []string{"ping-only", "watch"} {
		b.Run(mode, func(b *testing.B) {
			w := newWorld(b, "alpine:3.20")
			// One tick every half hold: the shipped ratio of CLAIM_TTL
			// (2m) to the armed schedule's period (1m).
			const name, hold = "job-executor-sweep", 2 * time.Second
			const tickEvery = hold / 2
			dyn, err := dynamic.NewForConfig(restConfig(w.bed))
			must(b, err)
			ps := dyn.Resource(wake.PingSources).Namespace(w.fnNS)
			_, err = ps.Create(context.Background(), &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
				"metadata": map[string]any{"name": name},
				"spec":     map[string]any{"schedule": "0 * * * *", "sink": map[string]any{"uri": "http://job-executor.invalid"}},
			}}, metav1.CreateOptions{})
			must(b, err)
			env := w.functionEnv("bench-idle")
			env["SWEEP_PINGSOURCE"] = w.fnNS + "/" + name
			env["CLAIM_TTL"] = hold.String()
			fnBin, _ := binaries(b)
			fn := startProcess(b, fnBin, env, true)
			fn.waitReady(b)
			var adapter *testbed.Adapter
			if mode == "watch" {
				var canary string
				adapter, canary = w.watchJobs(b, fn)
				must(b, w.kube.BatchV1().Jobs(w.ns).Delete(context.Background(), canary, metav1.DeleteOptions{}))
			}
			client := httpClient(1)
			ctx := ctxFor(b, 10*time.Minute)
			ticker := testbed.NewCronTicker(ps, name, func() error {
				sweep(b, ctx, client, fn)
				return nil
			})
			handled := func() float64 {
				ss, err := telemetrytest.Fetch(fn.metrics)
				must(b, err)
				return ss.Sum(telemetry.MetricEvents)
			}
			tick := func() bool {
				fired, err := ticker.Tick(ctx)
				must(b, err)
				return fired
			}
			idleHour := func() float64 {
				// Settle what the set-up sent (the canary's delete).
				time.Sleep(time.Second)
				before := handled()
				for range 60 {
					tick()
				}
				return handled() - before
			}

			for b.Loop() {
				before := idleHour()

				var ids []string
				for range burst {
					ce := w.triggered()
					ids = append(ids, ce.ID())
					if _, err := post(ctx, client, fn.url, ce); err != nil {
						b.Fatal(err)
					}
				}
				finished := func() bool {
					got := map[string]bool{}
					for _, e := range w.keptn.EventsOfType(keptn.TaskType(task, keptn.KindFinished)) {
						got[e.Triggeredid] = true
					}
					for _, id := range ids {
						if !got[id] {
							return false
						}
					}
					return true
				}
				// Ticks while the Jobs run, until every .finished is in.
				var lastReport time.Time
				for i := 0; ; i++ {
					if i > 300 {
						b.Fatal("not every .finished within 300 ticks")
					}
					tick()
					if finished() {
						lastReport = ticker.Minute
						break
					}
					time.Sleep(tickEvery)
				}
				// Ticks until the sweep is idle; the hold (CLAIM_TTL) is
				// real time.
				var lastWake time.Time
				for i := 0; ; i++ {
					s, err := ticker.Schedule(ctx)
					must(b, err)
					if s == "0 * * * *" {
						break
					}
					if i > 100 {
						b.Fatal("the sweep did not disarm within 100 ticks")
					}
					if tick() {
						lastWake = ticker.Minute
					}
					time.Sleep(tickEvery)
				}
				if lastWake.IsZero() {
					lastWake = lastReport
				}
				after := idleHour()
				summary("idle %s: %.0f wake-ups in an idle hour before a burst of %d Jobs, %.0f after it; last wake-up %s of schedule after the tick that reported the last Job (a tick every %s, hold CLAIM_TTL %s: the shipped 1m and 2m)",
					mode, before, burst, after, lastWake.Sub(lastReport), tickEvery, hold)
				if adapter != nil {
					rss := vmRSS(b, adapter.PID())
					summary("idle %s: our pods while idle: 1 (the ApiServerSource receive adapter), RSS %s", mode, MiB(rss))
					b.ReportMetric(float64(rss)/(1<<20), "adapter-RSS-MiB")
				} else {
					summary("idle %s: our pods while idle: 0", mode)
				}
				b.ReportMetric(after, "idle-wakeups/h")
				b.ReportMetric(lastWake.Sub(lastReport).Minutes(), "last-wakeup-after-report-min")
			}
		})
	}
}

// vmRSS reads a process's resident set size from /proc.
func vmRSS(tb testing.TB, pid int) int64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(tb, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			n, err := strconv.ParseInt(f[0], 10, 64)
			must(tb, err)
			return n << 10
		}
	}
	tb.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
