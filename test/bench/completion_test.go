package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry"
	"github.com/keptn-sandbox/job-executor-knative/pkg/telemetry/telemetrytest"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// BenchmarkCompletion measures, through Knative's real ApiServerSource
// adapter (watching Jobs and their pods, as docs/completion.md configures
// it), the time from a Job's end to its .finished accepted by the Keptn
// stand-in. The end is when a watch of the bench first saw the task's pod
// end (the adapter's watch sees it at the same moment; the function
// reports from the pod's status, so it need not wait for the Job
// controller), and also, separately, when it saw the Job's Complete
// condition; the condition's lastTransitionTime is kept in whole seconds by
// the API, so latencies from it are shown too but overstate by up to a
// second. It also counts the function's Kubernetes requests per triggered
// event, from the Job's create to the events that follow its report.
func BenchmarkCompletion(b *testing.B) {
	var (
		events   = envInt("BENCH_COMPLETIONS", 30)
		interval = 500 * time.Millisecond
	)
	w := newWorld(b, "alpine:3.20")
	fnBin, _ := binaries(b)
	fn := startProcess(b, fnBin, w.functionEnv("bench-completion"), true)
	fn.waitReady(b)
	w.watchJobs(b, fn)
	tr := newTracker(b, w)
	client := httpClient(4)
	w.startFloorReporter(b, client, floorTask, floorWork{})
	w.startFloorReporter(b, client, claimFloorTask, floorWork{claim: true})
	w.startFloorReporter(b, client, reportFloorTask, floorWork{claim: true, log: true})

	for b.Loop() {
		ctx := ctxFor(b, 5*time.Minute)
		callsBefore, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		var ids []string
		errs := make(chan error, events)
		tick := time.NewTicker(interval)
		for range events {
			ce := w.triggered()
			ids = append(ids, ce.ID())
			go func() {
				_, err := post(ctx, client, fn.url, ce)
				errs <- err
			}()
			<-tick.C
		}
		tick.Stop()
		for range events {
			must(b, <-errs)
		}
		var fromPod, fromJob, fromCondition, floor, claimFloor, reportFloor []time.Duration
		for _, id := range ids {
			fin, err := w.keptn.WaitFor(ctx, func(e keptnstandin.Event) bool {
				return e.Type == keptn.TaskType(task, keptn.KindFinished) && e.Triggeredid == id
			})
			must(b, err)
			// The bench's watch and the adapter's are independent: the
			// report may arrive before this watch shows the end.
			if tr.waitFor(ctx, []string{id}, func(s seenJob) bool { return ended(s) && !s.PodEnded.IsZero() }) > 0 {
				b.Fatalf("the bench's watch never saw the Job of %s end", id)
			}
			s, _ := tr.get(id)
			for _, f := range []struct {
				task string
				into *[]time.Duration
			}{{floorTask, &floor}, {claimFloorTask, &claimFloor}, {reportFloorTask, &reportFloor}} {
				fl, err := w.keptn.WaitFor(ctx, func(e keptnstandin.Event) bool {
					return e.Type == keptn.TaskType(f.task, keptn.KindFinished) && e.Triggeredid == id
				})
				must(b, err)
				*f.into = append(*f.into, fl.Received.Sub(s.PodEnded))
			}
			fromPod = append(fromPod, fin.Received.Sub(s.PodEnded))
			fromJob = append(fromJob, fin.Received.Sub(s.Ended))
			fromCondition = append(fromCondition, fin.Received.Sub(s.Transition))
		}
		ss := quiet(b, fn)
		fnP50, floorP50 := Percentile(fromPod, 50), Percentile(floor, 50)
		summary("completion → .finished (n=%d, one event every %s) from the task's pod ending, seen by a watch: function p50 %s, p90 %s, p99 %s; floor (a pod watch that POSTs at once) p50 %s, p90 %s, p99 %s; ratio of p50s %s",
			events, interval, Ms(fnP50), Ms(Percentile(fromPod, 90)), Ms(Percentile(fromPod, 99)),
			Ms(floorP50), Ms(Percentile(floor, 90)), Ms(Percentile(floor, 99)), Ratio(float64(fnP50), float64(floorP50)))
		summary("completion → .finished: p50 %s after the Job's terminal condition was seen (negative: before it), p50 %s from the condition's lastTransitionTime (whole seconds)",
			Ms(Percentile(fromJob, 50)), Ms(Percentile(fromCondition, 50)))
		claimP50, reportP50 := Percentile(claimFloor, 50), Percentile(reportFloor, 50)
		summary("completion → .finished: exactly-once floor (the same pod watch, one claiming create that only one writer can win, then the POST) p50 %s, p90 %s, p99 %s; function ÷ exactly-once floor, ratio of p50s %s",
			Ms(claimP50), Ms(Percentile(claimFloor, 90)), Ms(Percentile(claimFloor, 99)), Ratio(float64(fnP50), float64(claimP50)))
		summary("completion → .finished: same-report floor (the exactly-once floor reading the task's log beside its claim, as the function does, and POSTing a .finished that carries it) p50 %s, p90 %s, p99 %s; function ÷ same-report floor, ratio of p50s %s",
			Ms(reportP50), Ms(Percentile(reportFloor, 90)), Ms(Percentile(reportFloor, 99)), Ratio(float64(fnP50), float64(reportP50)))
		goal("completion: p50 from the pod's end ≤ 2 × the floor's", "≤ 2 × "+Ms(floorP50), Ms(fnP50)+" ("+Ratio(float64(fnP50), float64(floorP50))+" ×)", fnP50 <= 2*floorP50)
		goal("completion (ours): p50 ≤ 2 × the exactly-once floor's (claim write + POST)", "≤ 2 × "+Ms(claimP50), Ms(fnP50)+" ("+Ratio(float64(fnP50), float64(claimP50))+" ×)", fnP50 <= 2*claimP50)
		goal("completion (ours): p50 ≤ 2 × the same-report floor's (claim write ‖ log read, then POST)", "≤ 2 × "+Ms(reportP50), Ms(fnP50)+" ("+Ratio(float64(fnP50), float64(reportP50))+" ×)", fnP50 <= 2*reportP50)
		goal("completion: p50 from the pod's end, well under 250 ms", "< 250 ms", Ms(fnP50), fnP50 < 250*time.Millisecond)
		summary("completion: the function's Kubernetes requests per triggered event, from its create through its report and the Job controller's condition after it: %s",
			kubeCallsPerEvent(callsBefore, ss, float64(events)))
		summary("completion: the function's report-latency histogram: %.0f reports, mean %.2f s (from lastTransitionTime)",
			ss.Sum(telemetry.MetricReportLatency+"_count"), ss.Sum(telemetry.MetricReportLatency+"_sum")/ss.Sum(telemetry.MetricReportLatency+"_count"))
		b.ReportMetric(float64(fnP50)/1e6, "p50-ms")
		b.ReportMetric(float64(floorP50)/1e6, "floor-p50-ms")
		b.ReportMetric(float64(claimP50)/1e6, "claim-floor-p50-ms")
		b.ReportMetric(float64(reportP50)/1e6, "report-floor-p50-ms")
	}
}

// quiet returns the function's metrics once its Kubernetes requests have
// stopped for two seconds (the events that follow a report, such as the
// Job controller's condition, have been handled), or after a minute.
func quiet(b *testing.B, fn *process) telemetrytest.Samples {
	var last float64
	still := time.Now()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		ss, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		if n := ss.Sum(telemetry.MetricKubeRequests); n != last {
			last, still = n, time.Now()
		}
		if time.Since(still) >= 2*time.Second || time.Now().After(deadline) {
			return ss
		}
	}
}

// floorTask, claimFloorTask and reportFloorTask name the floor reporters'
// events, so they are told apart from the function's .finished and from
// each other.
const (
	floorTask       = "floor"
	claimFloorTask  = "floor-claim"
	reportFloorTask = "floor-report"
)

// floorWork is what a floor reporter does between seeing a pod end and its
// POST.
type floorWork struct {
	// claim: one write that only one writer can win (claimForFloor).
	claim bool
	// log: read the task container's log beside the claim, bounded as the
	// function bounds it, and carry it in the .finished, as the
	// function's report does.
	log bool
}

// startFloorReporter is the least a reporter must do: a client-go watch of
// the namespace's pods that, the moment one is terminal, POSTs a .finished
// (of task) to the stand-in. It reads the triggered event from its Job in
// an informer's cache, so it makes no API call per pod. With work.claim,
// it is the least an exactly-once reporter must do: before the POST, one
// write that only one writer can win, as the function's claim is. With
// work.log as well, it is the least a reporter of the function's
// .finished must do: that .finished carries the task's log, so the log is
// read, at the same time as the claim is written (as the function does).
func (w *world) startFloorReporter(b *testing.B, client *http.Client, task string, work floorWork) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	f := informers.NewSharedInformerFactoryWithOptions(w.kube, 0, informers.WithNamespace(w.ns))
	jobLister := f.Batch().V1().Jobs().Lister()
	pods := f.Core().V1().Pods().Informer()
	var mu sync.Mutex
	sent := map[string]bool{}
	report := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || !verdict.Ended(pod) {
			return
		}
		mu.Lock()
		done := sent[pod.Name]
		sent[pod.Name] = true
		mu.Unlock()
		if done {
			return
		}
		job, err := jobLister.Jobs(w.ns).Get(pod.Labels[batchv1.JobNameLabel])
		if err != nil {
			return
		}
		o, err := jobs.OriginOf(job)
		if err != nil {
			return
		}
		o.Task = task
		go func() {
			var (
				g       errgroup.Group
				message = task
			)
			if work.claim {
				// Lost, or failed: either way this floor does not send.
				g.Go(func() error { return w.claimForFloor(ctx, job, task) })
			}
			if work.log {
				g.Go(func() error {
					limit := int64(reporter.DefaultLogReadLimit)
					log, err := w.kube.CoreV1().Pods(w.ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: pod.Spec.Containers[0].Name, LimitBytes: &limit}).DoRaw(ctx)
					message = string(log)
					return err
				})
			}
			if g.Wait() != nil {
				return
			}
			ev, err := keptn.FinishedEvent(task, uuid.NewString(), o, keptn.Finished{Status: keptn.StatusSucceeded, Result: keptn.ResultPass, Message: message}, time.Now())
			if err != nil {
				return
			}
			_ = w.postToKeptn(ctx, client, ev)
		}()
	}
	_, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: report, UpdateFunc: func(_, obj any) { report(obj) }})
	must(b, err)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
}

// claimForFloor is the exactly-once floor's claim: the create of a small
// object named after the Job, which only one creator can win. It is not
// written on the Job itself, whose update would conflict with the
// function's own claim and slow the function down.
func (w *world) claimForFloor(ctx context.Context, job *batchv1.Job, task string) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: task + "-" + job.Name, Namespace: w.ns}}
	_, err := w.kube.CoreV1().ConfigMaps(w.ns).Create(ctx, cm, metav1.CreateOptions{})
	return err
}

// watchJobs runs the ApiServerSource adapter on the world's Jobs, sending
// to the function, and waits until it delivers: a canary Job is changed
// until the function counts an event of the adapter. It returns the
// adapter and the canary's name.
func (w *world) watchJobs(b *testing.B, fn *process) (*testbed.Adapter, string) {
	b.Helper()
	ours := &metav1.LabelSelector{MatchLabels: map[string]string{jobs.LabelManagedBy: jobs.DefaultSettings().ManagedBy}}
	src := &sourcesv1.ApiServerSource{
		ObjectMeta: metav1.ObjectMeta{Name: "job-executor-jobs", Namespace: w.ns},
		Spec: sourcesv1.ApiServerSourceSpec{
			EventMode: sourcesv1.ResourceMode,
			Resources: []sourcesv1.APIVersionKindSelector{
				{APIVersion: "batch/v1", Kind: "Job", LabelSelector: ours},
				{APIVersion: "v1", Kind: "Pod", LabelSelector: ours},
			},
		},
	}
	ctx := ctxFor(b, 2*time.Minute)
	adapter, err := w.bed.StartAdapter(ctx, src, fn.url)
	must(b, err)
	b.Cleanup(adapter.Stop)
	suspend := true
	canary := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "canary-" + uuid.NewString()[:8], Labels: map[string]string{jobs.LabelManagedBy: jobs.DefaultSettings().ManagedBy}},
		Spec: batchv1.JobSpec{Suspend: &suspend, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "c", Image: "alpine:3.20"}},
		}}},
	}
	_, err = w.kube.BatchV1().Jobs(w.ns).Create(ctx, canary, metav1.CreateOptions{})
	must(b, err)
	for i := 0; ; i++ {
		ss, err := telemetrytest.Fetch(fn.metrics)
		must(b, err)
		if adapterEvents(ss) > 0 {
			return adapter, canary.Name
		}
		if ctx.Err() != nil {
			b.Fatal("the ApiServerSource adapter delivered nothing to the function")
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"bench.local/poke":"%d"}}}`, i)
		_, _ = w.kube.BatchV1().Jobs(w.ns).Patch(ctx, canary.Name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
		time.Sleep(200 * time.Millisecond)
	}
}

// adapterEvents counts the ApiServerSource events the function handled.
func adapterEvents(ss telemetrytest.Samples) float64 {
	var n float64
	for _, t := range []string{"add", "update", "delete"} {
		n += ss.Sum(telemetry.MetricEvents, "type", "dev.knative.apiserver.resource."+t)
	}
	return n
}
