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
	"k8s.io/apimachinery/pkg/types"

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
// rounds; each batch is a steady state of BENCH_BATCH_SECONDS, and its Jobs
// are deleted before the next batch, so that every batch meets an API
// server holding the same objects.
func BenchmarkThroughput(b *testing.B) {
	var (
		concurrency = envInt("BENCH_CONCURRENCY", 8)
		batchTime   = time.Duration(envInt("BENCH_BATCH_SECONDS", 60)) * time.Second
		rounds      = envInt("BENCH_ROUNDS", 7)
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
		{"update-writes", base.updateWrites},
		{"raw-create", base.rawCreate},
	}
	ctx := ctxFor(b, 90*time.Minute)

	for b.Loop() {
		// Warm up: the config cache, connections, the API server's caches.
		for _, m := range modes {
			w.runBatch(b, ctx, tr, m, 0, concurrency)
		}
		metricsBefore, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		keptnBefore := w.keptn.RequestCounts()
		conflictsBefore := base.conflicts.Load()
		apfBefore := w.apiServerMetrics()

		results := map[string][]batch{}
		for r := range rounds {
			for i := range modes {
				m := modes[(i+r)%len(modes)]
				results[m.name] = append(results[m.name], w.runBatch(b, ctx, tr, m, batchTime, concurrency))
			}
		}

		metricsAfter, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		fnEvents := float64(events(results["function"]))
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
			summary("throughput %-13s %6.1f events/s (median of %d rounds: %s), event→Job p50 %s p99 %s, request p50 %s p99 %s",
				m.name, rates[m.name], rounds, strings.Join(per, ", "),
				Ms(Percentile(toJob, 50)), Ms(Percentile(toJob, 99)), Ms(Percentile(req, 50)), Ms(Percentile(req, 99)))
			b.ReportMetric(rates[m.name], m.name+"-events/s")
		}
		w.throughputRatios(results, rounds, batchTime, concurrency)
		w.apfReport(apfBefore, w.apiServerMetrics())
		summary("function API calls per event during the run: %s", kubeCallsPerEvent(metricsBefore, metricsAfter, fnEvents))
		keptnAfter := w.keptn.RequestCounts()
		summary("function Kubernetes Events during the run: %.0f written, %.0f dropped (written at %d/s at most, queue of %d)",
			metricsAfter.Sum(telemetry.MetricKubeRequests, "verb", "create", "resource", "events.events.k8s.io")-metricsBefore.Sum(telemetry.MetricKubeRequests, "verb", "create", "resource", "events.events.k8s.io"),
			metricsAfter.Sum(telemetry.MetricEventsDropped), telemetry.EventQPS, telemetry.EventQueueSize)
		summary("function Keptn calls during the run: %.2f event POSTs per event, %d config GETs in all; update-writes: %.2f update conflicts per event",
			// Two baselines POST a .started per event too.
			float64(keptnAfter[keyEvent]-keptnBefore[keyEvent]-events(results["same-writes"])-events(results["update-writes"]))/fnEvents, configGets(keptnAfter)-configGets(keptnBefore),
			float64(base.conflicts.Load()-conflictsBefore)/float64(events(results["update-writes"])))
	}
}

// throughputRatios prints the function's rate against each baseline in
// the two ways (the ratio of the median rates; the median of the per-round
// ratios: a round's batches run back to back, so the bed's drift cancels
// out of it), each with its bootstrap interval. The stricter is the
// headline.
func (w *world) throughputRatios(results map[string][]batch, rounds int, batchTime time.Duration, concurrency int) {
	rates := func(name string) []float64 {
		var out []float64
		for _, bt := range results[name] {
			out = append(out, bt.rate)
		}
		return out
	}
	fn := rates("function")
	for _, base := range []string{"same-writes", "update-writes", "raw-create"} {
		s := CompareRates(fn, rates(base))
		head, name := s.Stricter()
		var per []string
		for r := range rounds {
			per = append(per, Ratio(fn[r], rates(base)[r]))
		}
		summary("ratio to %s: %s (the stricter: %s); ratio of median rates %s, median of per-round ratios %s (95%% bootstrap intervals; per round: %s)",
			base, head, name, s.OfMedians, s.MedianOfRatios, strings.Join(per, ", "))
		if base == "same-writes" {
			goal("throughput: function ÷ same-writes, stricter statistic", "≥ 0.80", head.String(), head.Value >= 0.8)
		}
	}
	var sizes []string
	for _, bt := range results["function"] {
		sizes = append(sizes, strconv.Itoa(len(bt.requests)))
	}
	summary("throughput: batches of %s each (the function's: %s events), %d concurrent senders, %d rounds; each batch's Jobs and pods deleted before the next",
		batchTime, strings.Join(sizes, ", "), concurrency, rounds)
}

// events counts the events of batches.
func events(batches []batch) int {
	n := 0
	for _, bt := range batches {
		n += len(bt.requests)
	}
	return n
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

// runBatch sends fresh events through m from concurrency senders for d
// (a warm-up of 2 × concurrency events when d is zero), waits until a
// watch saw every Job of the batch, then deletes the batch's Jobs and
// their pods and waits until they are gone.
func (w *world) runBatch(b *testing.B, ctx context.Context, tr *tracker, m mode, d time.Duration, concurrency int) batch {
	b.Helper()
	var (
		mu     sync.Mutex
		sent   []time.Time
		ids    []string
		took   []time.Duration
		failed atomic.Value
		wg     sync.WaitGroup
		count  atomic.Int64
	)
	warmUp := int64(2 * concurrency)
	begin := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && failed.Load() == nil {
				if d > 0 && time.Since(begin) >= d || d == 0 && count.Add(1) > warmUp {
					return
				}
				ce := w.triggered()
				at := time.Now()
				// Keptn stamps an event as it emits it, and the Broker
				// delivers it then; stamped earlier, the last events of a
				// long batch would be past RETRY_WINDOW, and the function
				// would look for a given-up record (a GET) that a fresh
				// event never needs.
				ce.SetTime(at)
				if err := m.run(ctx, ce); err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("%s: event %s: %w", m.name, ce.ID(), err))
					return
				}
				mu.Lock()
				sent, ids, took = append(sent, at), append(ids, ce.ID()), append(took, time.Since(at))
				mu.Unlock()
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
		b.Fatalf("%s: %d of %d Jobs never seen", m.name, missing, len(ids))
	}
	out := batch{rate: float64(len(ids)) / wall.Seconds(), requests: took}
	for i, id := range ids {
		s, _ := tr.get(id)
		out.toJob = append(out.toJob, s.Added.Sub(sent[i]))
	}
	cleared := w.clearJobs(b, ctx)
	b.Logf("%s: %d events in %s (%.0f/s); Jobs and pods deleted in %s", m.name, len(ids), wall.Round(time.Millisecond), out.rate, cleared.Round(time.Millisecond))
	// The function's Kubernetes Events (10/s) go on under every later
	// batch alike; a pause lets the API server's and etcd's compaction
	// of this batch's deletions pass.
	time.Sleep(2 * time.Second)
	return out
}

// clearJobs deletes every Job in the world's namespace with its pods (the
// garbage collector removes them) and waits until none is left, so each
// batch meets an API server holding the same objects: kept, they piled up
// to 30,000 Jobs and slowed every later batch (docs/benchmarks.md).
func (w *world) clearJobs(b *testing.B, ctx context.Context) time.Duration {
	b.Helper()
	start := time.Now()
	background := metav1.DeletePropagationBackground
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for {
		jobList, err := w.kube.BatchV1().Jobs(w.ns).List(ctx, metav1.ListOptions{Limit: 1})
		must(b, err)
		podList, err := w.kube.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{Limit: 1})
		must(b, err)
		switch {
		case len(jobList.Items) == 0 && len(podList.Items) == 0:
			return time.Since(start)
		case len(jobList.Items) > 0:
			// The API server gives up on a deletecollection of thousands
			// of Jobs after its request timeout (a minute); what it
			// deleted stays deleted, and the next call goes on.
			if err := w.kube.BatchV1().Jobs(w.ns).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{}); err != nil {
				b.Logf("deleting the batch's Jobs: %v (going on)", err)
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("the batch's Jobs and pods were not deleted: %v", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
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
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*batchv1.Job, error)
}

func newBaseline(tb testing.TB, w *world, client *http.Client) *baseline {
	return &baseline{w: w, cfg: w.config(), settings: w.settings(), client: client, kube: w.functionClient().BatchV1().Jobs(w.ns)}
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

// createAndStart creates the Job holding the .started claim and POSTs
// .started to Keptn.
func (bl *baseline) createAndStart(ctx context.Context, ce event.Event) (*batchv1.Job, error) {
	job, ev, err := bl.job(ce)
	if err != nil {
		return nil, err
	}
	job.Annotations[jobs.AnnotationStartClaim] = claim.Value("baseline/"+randHex(6), time.Now().Add(2*time.Minute))
	created, err := bl.kube.Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	started, err := keptn.StartedEvent("job-executor-knative", reporter.ResponseID(created, keptn.KindStarted), keptn.OriginOf(ev), time.Now())
	if err != nil {
		return nil, err
	}
	if err := bl.w.postToKeptn(ctx, bl.client, started); err != nil {
		return nil, err
	}
	return created, nil
}

// postToKeptn sends ev to the stand-in's event API, as the function's
// Keptn sink does.
func (w *world) postToKeptn(ctx context.Context, client *http.Client, ev event.Event) error {
	body, err := sink.KeptnBody(ev)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.keptnURL+"/v1/event", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-token", w.keptn.Token())
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", ev.Type(), resp.Status)
	}
	return nil
}

// sameWrites is the limit of this design, the writes the function makes:
// the Job created holding the .started claim, .started POSTed to Keptn, and
// the JSON merge patch of the two annotations that marks it sent
// (claim.Complete): no resourceVersion, so it cannot conflict with the Job
// controller's status writes.
func (bl *baseline) sameWrites(ctx context.Context, ce event.Event) error {
	created, err := bl.createAndStart(ctx, ce)
	if err != nil {
		return err
	}
	_, err = claim.Complete(ctx, bl.kube, created, reporter.StartedKeys, time.Now())
	return err
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

// updateWrites is sameWrites with the marker written as the function
// wrote it before: a resourceVersion-checked update, re-read on a
// conflict.
func (bl *baseline) updateWrites(ctx context.Context, ce event.Event) error {
	created, err := bl.createAndStart(ctx, ce)
	if err != nil {
		return err
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
