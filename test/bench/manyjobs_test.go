package bench

import (
	"context"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// BenchmarkManyJobs measures the function with many running Jobs, at
// growing counts (BENCH_JOBS, default 100,1000,5000: each step adds Jobs to
// the last): its memory (the state lives in Kubernetes) and the duration
// of a sweep (PingSource tick), which lists the Jobs and, when any is
// unreported, the namespace's pods once. Beside it, in the same step, the
// floor of any sweep: one raw paginated list of those Jobs and their pods
// with the function's identity.
func BenchmarkManyJobs(b *testing.B) {
	var (
		counts = envInts("BENCH_JOBS", []int{100, 1000, 5000})
		sweeps = envInt("BENCH_SWEEPS", 3)
	)
	w := newWorld(b, testbed.ImageSleep)
	fnBin, _ := binaries(b)
	fn := startProcess(b, fnBin, w.functionEnv("bench-many"), true)
	fn.waitReady(b)
	client := httpClient(1)
	ctx := ctxFor(b, 40*time.Minute)

	for b.Loop() {
		sweep(b, ctx, client, fn) // a first sweep of nothing, for a warm process
		time.Sleep(time.Second)
		idle, _ := fn.memory(b)
		idleHeap := heapInUse(b, fn)
		var rows []scaleRow
		created := 0
		for _, n := range counts {
			begin := time.Now()
			w.createRunning(b, ctx, n-created)
			created = n
			running := w.waitRunning(b, ctx, n)
			summary("many jobs: %d Jobs created with raw client-go, %d pods running after %s", n, running, time.Since(begin).Round(time.Second))
			row := scaleRow{jobs: n, idle: idle}
			row.loaded, _ = fn.memory(b)
			var took, raw []time.Duration
			before, err := telemetrytest.Fetch(fn.metrics)
			must(b, err)
			for range sweeps {
				raw = append(raw, w.rawList(b, ctx))
				took = append(took, sweep(b, ctx, client, fn))
			}
			after, err := telemetrytest.Fetch(fn.metrics)
			must(b, err)
			row.sweep, row.raw = MedianDuration(took), MedianDuration(raw)
			row.swept, row.peak = fn.memory(b)
			summary("many jobs: %d running Jobs: sweep median %s of %d (each: %s); raw paginated list of the Jobs and pods median %s; sweep ÷ raw %s",
				n, Ms(row.sweep), sweeps, kubeCallsPerEvent(before, after, float64(sweeps)), Ms(row.raw), Ratio(float64(row.sweep), float64(row.raw)))
			summary("many jobs: %d running Jobs: function RSS %s idle with no Jobs, %s with the Jobs, %s after %d sweeps (peak %s); Go heap in use %s idle, %s after the sweeps",
				n, MiB(idle), MiB(row.loaded), MiB(row.swept), sweeps, MiB(row.peak), MiB(idleHeap), MiB(heapInUse(b, fn)))
			rows = append(rows, row)
		}
		scaleGoals(rows)
		plotScale(b, rows)
	}
}

// scaleRow is one step of BenchmarkManyJobs.
type scaleRow struct {
	jobs                      int
	sweep, raw                time.Duration
	idle, loaded, swept, peak int64
}

// scaleGoals prints the curve as a table and the goals at 1,000 and 5,000
// Jobs.
func scaleGoals(rows []scaleRow) {
	summary("many jobs: | Jobs | sweep | raw list | sweep ÷ raw | RSS idle | RSS with Jobs | RSS after sweeps | peak |")
	for _, r := range rows {
		summary("many jobs: | %d | %s | %s | %s | %s | %s | %s | %s |", r.jobs, Ms(r.sweep), Ms(r.raw),
			Ratio(float64(r.sweep), float64(r.raw)), MiB(r.idle), MiB(r.loaded), MiB(r.swept), MiB(r.peak))
		switch r.jobs {
		case 1000:
			goal("sweep of 1,000 Jobs ≤ 3 × a raw paginated list of them and their pods", "≤ 3 × "+Ms(r.raw),
				Ms(r.sweep)+" ("+Ratio(float64(r.sweep), float64(r.raw))+" ×)", r.sweep <= 3*r.raw)
		case 5000:
			goal("RSS after sweeps at 5,000 Jobs ≤ idle + 25 MiB", "≤ "+MiB(r.idle+25<<20), MiB(r.swept), r.swept <= r.idle+25<<20)
		}
	}
}

// plotScale draws the curve into docs/bench/many-jobs.png: RSS (MiB) by
// Jobs on the left (red: after sweeps, blue: with the Jobs, grey dashed:
// idle + 25 MiB), sweep time (ms) by Jobs on the right (red: the sweep,
// blue: the raw list, grey dashed: 3 × the raw list).
func plotScale(b *testing.B, rows []scaleRow) {
	var xs, swept, loaded, budget, sw, raw, raw3 []float64
	xs = append(xs, 0)
	idle := float64(rows[0].idle) / (1 << 20)
	swept, loaded, budget = append(swept, idle), append(loaded, idle), append(budget, idle+25)
	sw, raw, raw3 = append(sw, 0), append(raw, 0), append(raw3, 0)
	var maxRSS, maxMs float64
	for _, r := range rows {
		xs = append(xs, float64(r.jobs))
		swept = append(swept, float64(r.swept)/(1<<20))
		loaded = append(loaded, float64(r.loaded)/(1<<20))
		budget = append(budget, idle+25)
		sw = append(sw, float64(r.sweep)/1e6)
		raw = append(raw, float64(r.raw)/1e6)
		raw3 = append(raw3, 3*float64(r.raw)/1e6)
		maxRSS = max(maxRSS, float64(r.peak)/(1<<20), idle+25)
		maxMs = max(maxMs, float64(r.sweep)/1e6, 3*float64(r.raw)/1e6)
	}
	red, blue, grey := color.RGBA{200, 30, 30, 255}, color.RGBA{30, 60, 200, 255}, color.RGBA{140, 140, 140, 255}
	xmax := xs[len(xs)-1]
	ticks := append([]float64{}, xs...)
	img := DrawPanels(
		Panel{XMax: xmax, YMax: maxRSS * 1.1, XTicks: ticks, YTicks: steps(maxRSS * 1.1),
			Lines: []Series{{Color: grey, Dashed: true, X: xs, Y: budget}, {Color: blue, X: xs, Y: loaded}, {Color: red, X: xs, Y: swept}}},
		Panel{XMax: xmax, YMax: maxMs * 1.1, XTicks: ticks, YTicks: steps(maxMs * 1.1),
			Lines: []Series{{Color: grey, Dashed: true, X: xs, Y: raw3}, {Color: blue, X: xs, Y: raw}, {Color: red, X: xs, Y: sw}}},
	)
	path := filepath.Join("..", "..", "docs", "bench", "many-jobs.png")
	must(b, os.MkdirAll(filepath.Dir(path), 0o755))
	must(b, WritePNG(path, img))
	summary("many jobs: curve drawn in docs/bench/many-jobs.png")
}

// steps are about five round tick values from 0 to top.
func steps(top float64) []float64 {
	step := math.Pow(10, math.Floor(math.Log10(top/5)))
	for top/step > 8 {
		step *= 2
	}
	var out []float64
	for v := 0.0; v <= top; v += step {
		out = append(out, v)
	}
	return out
}

// rawList is the floor of a sweep: one paginated list (pages of 500, as
// the sweep) of the world's Jobs and one of its pods, with the function's
// identity, holding one page at a time.
func (w *world) rawList(b *testing.B, ctx context.Context) time.Duration {
	b.Helper()
	if w.lister == nil {
		w.lister = w.functionClient() // one client: its connection is reused, as the function's
	}
	kube := w.lister
	sel := jobs.LabelManagedBy + "=" + jobs.DefaultSettings().ManagedBy
	begin := time.Now()
	for _, list := range []pager.ListPageFunc{
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.BatchV1().Jobs(w.ns).List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().Pods(w.ns).List(ctx, o)
		},
	} {
		p := pager.New(list)
		p.PageSize = 500
		must(b, p.EachListItem(ctx, metav1.ListOptions{LabelSelector: sel}, func(runtime.Object) error { return nil }))
	}
	return time.Since(begin)
}

// envInts reads a comma-separated list knob (BENCH_*).
func envInts(name string, def []int) []int {
	var out []int
	for _, f := range strings.Split(os.Getenv(name), ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// sweep delivers one PingSource tick and returns how long the function
// took to answer, which is the sweep's duration plus an HTTP round trip.
func sweep(b testing.TB, ctx context.Context, client httpDoer, fn *process) time.Duration {
	b.Helper()
	ce := event.New()
	ce.SetID(uuid.NewString())
	ce.SetSource("/apis/v1/namespaces/keptn/pingsources/job-executor-sweep")
	ce.SetType(reporter.EventPing)
	must(b, ce.SetData(event.ApplicationJSON, map[string]string{}))
	begin := time.Now()
	if _, err := post(ctx, client, fn.url, ce); err != nil {
		b.Fatalf("sweep: %v", err)
	}
	return time.Since(begin)
}

// createRunning creates n Jobs as the function builds them, with .started
// already recorded (so a sweep finds nothing to send), from 8 raw client-go
// senders.
func (w *world) createRunning(b *testing.B, ctx context.Context, n int) {
	b.Helper()
	cfg, settings := w.config(), w.settings()
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				job, err := jobs.Build(cfg, 0, taskEvent(b, w.triggered()), settings)
				if err == nil {
					job.Annotations[jobs.AnnotationStarted] = time.Now().UTC().Format(time.RFC3339Nano)
					// The Jobs must all still run when the last step is
					// swept: on a loaded machine creating 5,000 takes
					// longer than a task's default deadline.
					job.Spec.ActiveDeadlineSeconds = &benchJobDeadline
					_, err = w.kube.BatchV1().Jobs(w.ns).Create(ctx, job, metav1.CreateOptions{})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	must(b, <-errs)
}

// benchJobDeadline outlasts any BenchmarkManyJobs run (its context ends
// after 40 minutes).
var benchJobDeadline = int64(2 * time.Hour / time.Second)

// waitRunning waits (up to 15 minutes) until n pods run in the world's
// namespace and returns how many do.
func (w *world) waitRunning(b *testing.B, ctx context.Context, n int) int {
	b.Helper()
	deadline := time.Now().Add(15 * time.Minute)
	for {
		list, err := w.kube.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=" + string(corev1.PodRunning)})
		must(b, err)
		if len(list.Items) >= n || time.Now().After(deadline) {
			return len(list.Items)
		}
		time.Sleep(2 * time.Second)
	}
}

// heapInUse is the function's Go heap in use, from its /metrics.
func heapInUse(b *testing.B, fn *process) int64 {
	b.Helper()
	ss, err := telemetrytest.Fetch(fn.metrics)
	must(b, err)
	return int64(ss.Sum("go_memstats_heap_inuse_bytes"))
}
