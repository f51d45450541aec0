package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// BenchmarkManyJobs measures the function with many running Jobs: its
// memory (the state lives in Kubernetes, so it should not grow with the
// Jobs) and the duration of a sweep (PingSource tick), which lists the
// Jobs and, for each one not reported, its pods.
func BenchmarkManyJobs(b *testing.B) {
	var (
		count  = envInt("BENCH_JOBS", 1000)
		sweeps = envInt("BENCH_SWEEPS", 3)
	)
	w := newWorld(b, testbed.ImageSleep)
	fnBin, _ := binaries(b)
	fn := startProcess(b, fnBin, w.functionEnv("bench-many"), true)
	fn.waitReady(b)
	client := httpClient(1)
	ctx := ctxFor(b, 15*time.Minute)

	for b.Loop() {
		sweep(b, ctx, client, fn) // a first sweep of nothing, for a warm process
		time.Sleep(time.Second)
		idle, _ := fn.memory(b)
		idleHeap := heapInUse(b, fn)

		begin := time.Now()
		w.createRunning(b, ctx, count)
		running := w.waitRunning(b, ctx, count)
		summary("many jobs: %d Jobs created with raw client-go, %d pods running after %s", count, running, time.Since(begin).Round(time.Second))
		loaded, _ := fn.memory(b)

		var took []time.Duration
		before, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		for range sweeps {
			took = append(took, sweep(b, ctx, client, fn))
		}
		after, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		swept, peak := fn.memory(b)
		sweptHeap := heapInUse(b, fn)
		summary("many jobs: sweep of %d running Jobs: median %s of %d (each: %s)",
			count, Ms(MedianDuration(took)), sweeps, kubeCallsPerEvent(before, after, float64(sweeps)))
		summary("many jobs: function RSS %s idle with no Jobs, %s with %d running Jobs, %s after %d sweeps (peak %s); Go heap in use %s idle, %s after the sweeps",
			MiB(idle), MiB(loaded), count, MiB(swept), sweeps, MiB(peak), MiB(idleHeap), MiB(sweptHeap))
		b.ReportMetric(float64(MedianDuration(took))/1e6, "sweep-ms")
		b.ReportMetric(float64(swept)/(1<<20), "RSS-MiB")
	}
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

// waitRunning waits (up to 5 minutes; the Job controller, held to the
// controller-manager's 20 QPS, starts about 8 pods a second here) until n pods run in the world's
// namespace and returns how many do.
func (w *world) waitRunning(b *testing.B, ctx context.Context, n int) int {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
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
