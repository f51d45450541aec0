package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
)

// envInt reads a tuning knob (BENCH_*), for longer runs by hand.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// mode is one way of turning a triggered event into a Job.
type mode struct {
	name string
	run  func(ctx context.Context, ce event.Event) error
}

// batch is one mode's run of n events.
type batch struct {
	rate     float64         // events per second, first send to last answer
	toJob    []time.Duration // send → the Job's creation seen by a watch
	requests []time.Duration // send → answer
}

// BenchmarkThroughput sends triggered events through the function (HTTP
// CloudEvent in → Job created → .started out) and, side by side on the same
// API server, does the same per event with raw client-go: the writes the
// design needs (Job create with the .started claim, the .started POST, the
// update marking it sent) and the Job create alone. Modes take turns in
// rounds, and each ratio is the median over rounds of the round's ratio.
func BenchmarkThroughput(b *testing.B) {
	var (
		concurrency = envInt("BENCH_CONCURRENCY", 8)
		perBatch    = envInt("BENCH_EVENTS", 200)
		rounds      = envInt("BENCH_ROUNDS", 11)
	)
	w := newWorld(b, "alpine:3.20")
	fnBin, _ := binaries(b)
	fn := startProcess(b, fnBin, w.functionEnv("bench-0"), true)
	fn.waitReady(b)
	tr := newTracker(b, w)
	client := httpClient(concurrency)
	base := newBaseline(b, w, client)
	modes := []mode{
		{"function", func(ctx context.Context, ce event.Event) error {
			_, err := post(ctx, client, fn.url, ce)
			return err
		}},
		{"same-writes", base.sameWrites},
		{"raw-create", base.rawCreate},
	}
	ctx := ctxFor(b, 30*time.Minute)

	for b.Loop() {
		// Warm up: the config cache, connections, the API server's caches.
		for _, m := range modes {
			w.runBatch(b, ctx, tr, m, 2*concurrency, concurrency)
		}
		metricsBefore, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		keptnBefore := w.keptn.RequestCounts()
		conflictsBefore := base.conflicts.Load()

		results := map[string][]batch{}
		for r := range rounds {
			for i := range modes {
				m := modes[(i+r)%len(modes)]
				results[m.name] = append(results[m.name], w.runBatch(b, ctx, tr, m, perBatch, concurrency))
			}
		}

		metricsAfter, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		fnEvents := float64(rounds * perBatch)
		rates := map[string]float64{}
		for _, m := range modes {
			var rs []float64
			var toJob, req []time.Duration
			var per []string
			for _, bt := range results[m.name] {
				rs = append(rs, bt.rate)
				per = append(per, fmt.Sprintf("%.0f", bt.rate))
				toJob = append(toJob, bt.toJob...)
				req = append(req, bt.requests...)
			}
			rates[m.name] = Median(rs)
			summary("throughput %-11s %6.1f events/s (median of %d rounds: %s), event→Job p50 %s p99 %s, request p50 %s p99 %s",
				m.name, rates[m.name], rounds, strings.Join(per, ", "),
				Ms(Percentile(toJob, 50)), Ms(Percentile(toJob, 99)), Ms(Percentile(req, 50)), Ms(Percentile(req, 99)))
			b.ReportMetric(rates[m.name], m.name+"-events/s")
		}
		// Each round's batches run back to back on the same bed, so a
		// round's ratio is a paired comparison; the bed's drift between
		// rounds (the controllers' backlog grows) cancels out of it.
		var toSame, toRaw []float64
		var perRound []string
		for r := range rounds {
			fnRate := results["function"][r].rate
			toSame = append(toSame, fnRate/results["same-writes"][r].rate)
			toRaw = append(toRaw, fnRate/results["raw-create"][r].rate)
			perRound = append(perRound, fmt.Sprintf("%.2f/%.2f", toSame[r], toRaw[r]))
		}
		summary("ratio to same-writes: %.2f", Median(toSame))
		summary("ratio to raw create: %.2f", Median(toRaw))
		summary("ratios are medians over rounds of each round's ratio (per round, to same-writes/raw create: %s); ratios of the median rates: %s and %s (%d events per batch, %d concurrent senders)",
			strings.Join(perRound, ", "), Ratio(rates["function"], rates["same-writes"]), Ratio(rates["function"], rates["raw-create"]), perBatch, concurrency)
		summary("function API calls per event during the run: %s", kubeCallsPerEvent(metricsBefore, metricsAfter, fnEvents))
		keptnAfter := w.keptn.RequestCounts()
		summary("function Kubernetes Events during the run: %.0f written, %.0f dropped (written at %d/s at most, queue of %d)",
			metricsAfter.Sum(telemetry.MetricKubeRequests, "verb", "create", "resource", "events.events.k8s.io")-metricsBefore.Sum(telemetry.MetricKubeRequests, "verb", "create", "resource", "events.events.k8s.io"),
			metricsAfter.Sum(telemetry.MetricEventsDropped), telemetry.EventQPS, telemetry.EventQueueSize)
		summary("function Keptn calls during the run: %.2f event POSTs per event, %d config GETs in all; same-writes: %.2f update conflicts per event",
			float64(keptnAfter[keyEvent]-keptnBefore[keyEvent]-rounds*perBatch)/fnEvents, configGets(keptnAfter)-configGets(keptnBefore),
			float64(base.conflicts.Load()-conflictsBefore)/float64(rounds*perBatch))
	}
}

// Stand-in routes counted for API calls per event.
const keyEvent = "POST /event"

func configGets(counts map[string]int) int {
	n := 0
	for k, v := range counts {
		if strings.HasPrefix(k, "GET ") {
			n += v
		}
	}
	return n
}

// kubeCallsPerEvent lists the function's Kubernetes API requests between
// two scrapes, per event, by verb, resource and (for failures) code.
func kubeCallsPerEvent(before, after telemetrytest.Samples, events float64) string {
	count := func(ss telemetrytest.Samples) map[string]float64 {
		out := map[string]float64{}
		for _, s := range ss {
			if s.Name != telemetry.MetricKubeRequests {
				continue
			}
			k := s.Labels["verb"] + " " + s.Labels["resource"]
			if c := s.Labels["code"]; c[0] != '2' {
				k += " (" + c + ")"
			}
			out[k] += s.Value
		}
		return out
	}
	b, a := count(before), count(after)
	var keys []string
	for k := range a {
		if a[k]-b[k] > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, (a[k]-b[k])/events))
	}
	return strings.Join(parts, ", ")
}

// runBatch sends n fresh events through m from concurrency senders and
// waits until a watch saw every Job of the batch.
func (w *world) runBatch(b *testing.B, ctx context.Context, tr *tracker, m mode, n, concurrency int) batch {
	b.Helper()
	events := make([]event.Event, n)
	ids := make([]string, n)
	for i := range events {
		events[i] = w.triggered()
		ids[i] = events[i].ID()
	}
	sent := make([]time.Time, n)
	took := make([]time.Duration, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var failed atomic.Value
	begin := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sent[i] = time.Now()
				if err := m.run(ctx, events[i]); err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("%s: event %d: %w", m.name, i, err))
				}
				took[i] = time.Since(sent[i])
			}
		}()
	}
	wg.Wait()
	wall := time.Since(begin)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	seen, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if missing := tr.waitFor(seen, ids, added); missing > 0 {
		b.Fatalf("%s: %d of %d Jobs never seen", m.name, missing, n)
	}
	out := batch{rate: float64(n) / wall.Seconds(), requests: took}
	for i, id := range ids {
		s, _ := tr.get(id)
		out.toJob = append(out.toJob, s.Added.Sub(sent[i]))
	}
	b.Logf("%s: %d events in %s (%.0f/s)", m.name, n, wall.Round(time.Millisecond), out.rate)
	// The controllers' catching up (the controller-manager's own client is
	// held to 20 QPS) and the function's Kubernetes Events (10/s) go on
	// under every later batch alike; a pause lets the API server's and
	// etcd's bursts of this one pass.
	time.Sleep(2 * time.Second)
	return out
}

// baseline turns events into Jobs with raw client-go calls.
type baseline struct {
	w         *world
	cfg       *jobconfig.Config
	settings  jobs.Settings
	client    *http.Client
	kube      batchJobs
	conflicts atomic.Int64
}

// batchJobs is the part of client-go's JobInterface the baselines use.
type batchJobs interface {
	Create(ctx context.Context, job *batchv1.Job, opts metav1.CreateOptions) (*batchv1.Job, error)
	Update(ctx context.Context, job *batchv1.Job, opts metav1.UpdateOptions) (*batchv1.Job, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*batchv1.Job, error)
}

func newBaseline(tb testing.TB, w *world, client *http.Client) *baseline {
	return &baseline{w: w, cfg: w.config(), settings: w.settings(), client: client, kube: w.kube.BatchV1().Jobs(w.ns)}
}

// job builds the Job the function would build for ce.
func (bl *baseline) job(ce event.Event) (*batchv1.Job, *keptn.TaskEvent, error) {
	ev, err := keptn.ParseTaskEvent(ce)
	if err != nil {
		return nil, nil, err
	}
	job, err := jobs.Build(bl.cfg, 0, ev, bl.settings)
	return job, ev, err
}

// rawCreate is the limit of any design: one Job create per event.
func (bl *baseline) rawCreate(ctx context.Context, ce event.Event) error {
	job, _, err := bl.job(ce)
	if err != nil {
		return err
	}
	_, err = bl.kube.Create(ctx, job, metav1.CreateOptions{})
	return err
}

// sameWrites is the limit of this design: the Job created holding the
// .started claim, .started POSTed to Keptn, and the update that marks it
// sent, re-read on a conflict as package claim does.
func (bl *baseline) sameWrites(ctx context.Context, ce event.Event) error {
	job, ev, err := bl.job(ce)
	if err != nil {
		return err
	}
	job.Annotations[jobs.AnnotationStartClaim] = claim.Value("baseline/"+randHex(6), time.Now().Add(2*time.Minute))
	created, err := bl.kube.Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	started, err := keptn.StartedEvent("job-executor-knative", reporter.ResponseID(created, keptn.KindStarted), keptn.OriginOf(ev), time.Now())
	if err != nil {
		return err
	}
	body, err := sink.KeptnBody(started)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, bl.w.keptnURL+"/v1/event", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-token", bl.w.keptn.Token())
	resp, err := bl.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf(".started: %s", resp.Status)
	}
	cur := created
	for range 8 {
		cur.Annotations[jobs.AnnotationStarted] = time.Now().UTC().Format(time.RFC3339Nano)
		delete(cur.Annotations, jobs.AnnotationStartClaim)
		_, err = bl.kube.Update(ctx, cur, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
		bl.conflicts.Add(1)
		if cur, err = bl.kube.Get(ctx, created.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
	return fmt.Errorf("marking .started on %s: still conflicting", created.Name)
}
