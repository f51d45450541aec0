// Command demo runs the main job end to end on a machine with only Go: the
// local control plane (built on first use), the Keptn stand-in serving an
// example project, the function, and Knative's real ApiServerSource adapter.
// It sends one sh.keptn.event.test.triggered and prints the Job, the
// .started and the .finished as they happen, then stops everything.
//
// With --kubeconfig it uses that cluster instead of starting one: no
// adapter is started there, and completion comes from the ping sweep (the
// PingSource-only mode).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/serve"
	"github.com/keptn-sandbox/job-executor-knative/test/broker"
	"github.com/keptn-sandbox/job-executor-knative/test/harness"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

const namespace = "keptn-demo"

func main() {
	kubeconfig := flag.String("kubeconfig", "", "use this cluster instead of starting the local control plane (ping-only mode)")
	generic := flag.Bool("generic", false, "run the generic scenario instead (docs/generic.md): a CloudEvent that is not Keptn's runs a Job, and its result comes back as a CloudEvent")
	timeout := flag.Duration("timeout", 3*time.Minute, "give up after this long (excluding the first build)")
	verbose := flag.Bool("v", false, "show the function's own logs")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: demo [--generic] [--kubeconfig FILE] [--timeout D] [-v]\n\n%s\n\nFlags:\n", strings.TrimSpace(usage))
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	run := run
	if *generic {
		run = runGeneric
	}
	err := run(ctx, *kubeconfig, *timeout, *verbose)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

const usage = `
Runs one Keptn test task end to end: the Keptn stand-in serves the example
project in test/cmd/demo/project (the seed's "Hello World" and a locust
test), the function turns sh.keptn.event.test.triggered into a Job, and the
Job's completion comes back as sh.keptn.event.test.finished.

As root with containerd, runc, the CNI plugins and busybox-static
installed (apt-get install -y containerd runc containernetworking-plugins
busybox-static), the control plane gets a real node: a kubelet with
containerd runs the Job's containers, the fetcher image fills /keptn from
the stand-in over the pod network, and the log in .finished is the
container's. The host is put back as it was when the demo ends.

Otherwise containers are simulated by kwok (the demo says it fell back),
so the task logs shown are the ones the simulated kubelet serves, and the
file fetcher is the real initcontainer binary, run here with the Job's own
arguments.

With --generic (make demo-generic) it runs the generic mode instead, on
kwok: a com.example.build.requested CloudEvent runs the Job of the
operator's config.yaml (test/cmd/demo/generic), the real fetcher writes the
event file and the ConfigMap's files, and the result comes back as one
dev.jobexecutor.job.finished CloudEvent.`

type printer struct{ start time.Time }

func (p printer) say(format string, args ...any) {
	fmt.Printf("[%6.2fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, kubeconfig string, timeout time.Duration, verbose bool) error {
	p := printer{start: time.Now()}
	var bed *testbed.Bed
	if kubeconfig == "" {
		var err error
		if bed, err = startBed(ctx, p, true); err != nil {
			return err
		}
		defer stopBed(p, bed)
		kubeconfig = bed.KubeconfigPath()
		p.say("control plane up; KUBECONFIG=%s", kubeconfig)
	}
	realNode := bed != nil && bed.RealNode()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	kube, err := client(kubeconfig)
	if err != nil {
		return err
	}
	keptn, err := startKeptn(p, realNode)
	if err != nil {
		return err
	}
	defer keptn.Close()
	if err := prepareNamespace(ctx, kube, keptn.Token()); err != nil {
		return err
	}

	fnURL, stopFn, err := startFunction(ctx, kubeconfig, keptn, verbose, realNode, nil)
	if err != nil {
		return err
	}
	defer stopFn()
	p.say("function listening on %s", fnURL)

	if bed != nil {
		if _, err := bed.StartAdapter(ctx, harness.JobsSource(namespace), fnURL); err != nil {
			return err
		}
		p.say("ApiServerSource adapter watching Jobs and pods in %s", namespace)
	}
	if bed != nil && !realNode {
		// What the simulated kubelet answers for the tasks' logs.
		_ = bed.SetLogs(ctx, namespace, jobs.ContainerName(0, "Greet the world"), "Hello World")
		_ = bed.SetLogs(ctx, namespace, jobs.ContainerName(1, "Run locust"),
			"[2026-11-27 09:00:00] locust/INFO: Starting Locust 2.31.8\nName  # reqs  # fails  Avg\nGET / 112     0(0.00%)  23\nAggregated 112 0(0.00%) 23")
	}

	ce := triggered()
	if bed != nil {
		// The documented chain: Keptn's distributor → Broker → Trigger →
		// function, with Knative's broker ingress and filter and the Broker
		// and Trigger of config/knative.
		if err := publish(ctx, p, bed, fnURL, ce); err != nil {
			return err
		}
	} else {
		p.say("sending %s (id %s) to the function", ce.Type(), ce.ID())
		if status, err := deliver(ctx, fnURL, ce); err != nil || status >= 300 {
			return fmt.Errorf("the function answered %d: %v", status, err) //nolint:errorlint // err may be nil: it is shown, not wrapped
		}
	}
	job, err := findJob(ctx, kube, ce.ID())
	if err != nil {
		return err
	}
	p.say("Job %s/%s created:", job.Namespace, job.Name)
	for _, c := range append(job.Spec.Template.Spec.InitContainers, job.Spec.Template.Spec.Containers...) {
		fmt.Printf("           %-28s %s %s\n", c.Name, c.Image, strings.Join(append(c.Command, c.Args...), " "))
	}
	if !realNode {
		if err := runFetcher(ctx, p, job, keptn); err != nil {
			return err
		}
	}

	finished, err := follow(ctx, p, keptn, kube, fnURL, ce.ID(), bed == nil)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println(indent(finished.Data["message"]))
	if finished.Data["result"] != "pass" {
		return fmt.Errorf("the task's result is %v", finished.Data["result"])
	}
	p.say("done; stopping everything")
	return nil
}

// startKeptn serves the example project. On the real node the stand-in
// listens on the pods' bridge, where the fetcher in its pod reaches it, and
// the job config uses the bed's tools image (realnode.yaml): the node pulls
// nothing.
func startKeptn(p printer, realNode bool) (*keptnstandin.Server, error) {
	p.say("starting the Keptn stand-in with the example project")
	var opts []keptnstandin.Option
	if realNode {
		opts = append(opts, keptnstandin.WithListen(testbed.PodBridgeIP+":0"))
	}
	k, err := keptnstandin.New(opts...)
	if err != nil {
		return nil, err
	}
	if err := k.Start(); err != nil {
		return nil, err
	}
	if _, err := k.LoadDir(filepath.Join(sourceDir(), "project")); err != nil {
		k.Close()
		return nil, err
	}
	if realNode {
		if err := commitRealNodeConfig(k); err != nil {
			k.Close()
			return nil, err
		}
	}
	return k, nil
}

// commitRealNodeConfig commits the example project again with realnode.yaml
// as its job config (a commit is a whole snapshot).
func commitRealNodeConfig(k *keptnstandin.Server) error {
	const service = "project/demo/stage/hardening/service/carts/resource/"
	sources := map[string]string{
		service + "job/config.yaml":    "realnode.yaml",
		service + "locust/basic.py":    filepath.Join("project", service, "locust/basic.py"),
		service + "locust/locust.conf": filepath.Join("project", service, "locust/locust.conf"),
	}
	files := map[string][]byte{}
	for key, path := range sources {
		data, err := os.ReadFile(filepath.Join(sourceDir(), path))
		if err != nil {
			return err
		}
		files[key] = data
	}
	k.Commit(files)
	return nil
}

// startBed starts the local control plane, with the real node when this
// host can run it (root and the lane's packages), else with kwok, saying
// why.
func startBed(ctx context.Context, p printer, allowRealNode bool) (*testbed.Bed, error) {
	opts := testbed.Options{Log: prefixed(os.Stderr, "  testbed: ")}
	if !allowRealNode {
		p.say("starting the local control plane with kwok, which simulates containers (the first run builds it from Go modules: 20-35 min on 2 cores)")
		return testbed.Start(ctx, opts)
	}
	if missing := testbed.RealNodePrerequisites(); len(missing) == 0 {
		opts.RealNode = true
		p.say("starting the local control plane with a real node (kubelet + containerd: containers really run; the first run builds it from Go modules: 20-35 min on 2 cores)")
	} else {
		p.say("real node unavailable (%s): fell back to kwok, which simulates containers", strings.Join(missing, "; "))
		p.say("starting the local control plane (the first run builds it from Go modules: 20-35 min on 2 cores)")
	}
	return testbed.Start(ctx, opts)
}

// stopBed stops the bed and says what the real node could not undo.
func stopBed(p printer, bed *testbed.Bed) {
	bed.Stop()
	if err := bed.RealNodeErr(); err != nil {
		p.say("%v", err)
	}
}

// sourceDir is this file's directory, so the demo finds its example project
// from any working directory.
func sourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func client(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}

// prepareNamespace does what config/knative does for a job namespace.
func prepareNamespace(ctx context.Context, kube kubernetes.Interface, token string) error {
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{})
	if ignoreExists(err) != nil {
		return err
	}
	return harness.PrepareJobNamespace(ctx, kube, namespace, token)
}

func ignoreExists(err error) error {
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// startFunction starts the function with the demo's settings, Keptn's
// from keptn when it is not nil, and extra over them.
func startFunction(ctx context.Context, kubeconfig string, keptn *keptnstandin.Server, verbose, realNode bool, extra map[string]string) (string, func(), error) {
	fn := function.New()
	env := map[string]string{
		"KUBECONFIG":    kubeconfig,
		"JOB_NAMESPACE": namespace,
		"POD_NAME":      "demo",
		"FETCHER_IMAGE": "ghcr.io/keptn-sandbox/job-executor-knative/initcontainer:demo",
		"LOG_LEVEL":     "warn",
	}
	if keptn != nil {
		env["KEPTN_API_URL"] = keptn.APIURL()
		env["KEPTN_API_TOKEN"] = keptn.Token()
		env["KEPTN_RESOURCE_URL"] = keptn.ResourceServiceURL()
	}
	maps.Copy(env, extra)
	if verbose {
		env["LOG_LEVEL"] = "debug"
	}
	if realNode {
		env["FETCHER_IMAGE"] = testbed.RealFetcherImage
	}
	if err := fn.Start(ctx, env); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve.Run(sctx, l, fn, slog.New(slog.NewTextHandler(io.Discard, nil)), 5*time.Second)
	}()
	return "http://" + l.Addr().String(), func() { cancel(); <-done }, nil
}

func triggered() event.Event {
	ce := event.New()
	ce.SetID(uuid.NewString())
	ce.SetSource("shipyard-controller")
	ce.SetType("sh.keptn.event.test.triggered")
	ce.SetTime(time.Now())
	ce.SetExtension("shkeptncontext", uuid.NewString())
	_ = ce.SetData(event.ApplicationJSON, map[string]any{
		"project": "demo", "stage": "hardening", "service": "carts",
		"labels":     map[string]string{"buildId": "42"},
		"deployment": map[string]any{"deploymentURIsLocal": []string{"http://carts.hardening.svc.cluster.local"}},
		"test":       map[string]any{"teststrategy": "performance"},
	})
	return ce
}

// publish installs the shipped Broker and Trigger on the bed in front of
// the function and has the distributor stand-in send ce into the Broker.
func publish(ctx context.Context, p printer, bed *testbed.Bed, fnURL string, ce event.Event) error {
	plumbing, err := broker.NewPlumbing(ctx, bed)
	if err != nil {
		return err
	}
	defer plumbing.Channel.Close()
	deadLetters := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.say("dead letter: %s (knativeerrorcode %s)", r.Header.Get("Ce-Id"), r.Header.Get("Ce-Knativeerrorcode"))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer deadLetters.Close()
	const brokerNS = "keptn-job-executor"
	if _, err := bed.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: brokerNS}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	route, err := plumbing.Install(ctx, bed, brokerNS, fnURL, deadLetters.URL)
	if err != nil {
		return err
	}
	p.say("Broker %s/%s and Trigger %s ready (Knative's broker ingress and filter)", brokerNS, plumbing.Broker.Name, route.Trigger.Name)
	p.say("distributor sending %s (id %s) to %s", ce.Type(), ce.ID(), route.Ingress)
	// The request id finds this publication's deliveries in the channel.
	rid := uuid.NewString()
	res := route.Distributor.Send(ctx, ce, http.Header{broker.RequestIDHeader: {rid}})
	if res.Err != nil {
		return res.Err
	}
	p.say("the Broker answered the distributor %d", res.Status)
	// The shipped Broker answers at once (async handler) and delivers in
	// the background, so wait for its delivery to end before the channel
	// closes and before looking for the Job.
	var got broker.Receipt
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := plumbing.Channel.Wait(waitCtx, func(all []broker.Receipt) bool {
		for _, d := range all {
			if d.RequestID == rid && d.Done() {
				got = d
				return true
			}
		}
		return false
	}); err != nil {
		return fmt.Errorf("waiting for the Broker to deliver %s: %w", ce.ID(), err)
	}
	var answers []string
	for _, a := range got.Attempts(route.Subscription) {
		answers = append(answers, strconv.Itoa(a.Status))
	}
	p.say("the Trigger delivered it to the function, which answered %s", strings.Join(answers, ", then "))
	return nil
}

func deliver(ctx context.Context, url string, ce event.Event) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, err
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(&ce), req); err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func findJob(ctx context.Context, kube kubernetes.Interface, eventID string) (*batchv1.Job, error) {
	list, err := kube.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{LabelSelector: jobs.LabelManagedBy})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Annotations[jobs.AnnotationEventID] == eventID {
			return &list.Items[i], nil
		}
	}
	return nil, errors.New("the function created no Job")
}

// follow prints .started and waits for .finished.
func follow(ctx context.Context, p printer, keptn *keptnstandin.Server, kube kubernetes.Interface, fnURL, id string, pingOnly bool) (keptnstandin.Event, error) {
	match := func(kind string) func(keptnstandin.Event) bool {
		return func(ev keptnstandin.Event) bool {
			return ev.Triggeredid == id && ev.Type == "sh.keptn.event.test."+kind
		}
	}
	started, err := keptn.WaitFor(ctx, match("started"))
	if err != nil {
		return started, fmt.Errorf("no .started: %w", err)
	}
	p.say("Keptn received %s (triggeredid %s)", started.Type, started.Triggeredid)
	// Play the PingSource: the safety net under the watch, and all of the
	// reporting in ping-only mode.
	period := 10 * time.Second
	if pingOnly {
		period = 2 * time.Second
	}
	go func() {
		for ctx.Err() == nil {
			time.Sleep(period)
			_, _ = deliver(ctx, fnURL, pingTick())
		}
	}()
	finished, err := keptn.WaitFor(ctx, match("finished"))
	if err != nil {
		return finished, fmt.Errorf("no .finished: %w", err)
	}
	raw, _ := json.Marshal(map[string]any{"status": finished.Data["status"], "result": finished.Data["result"], "test": finished.Data["test"]}) //nolint:errchkjson // values decoded from JSON marshal again
	p.say("Keptn received %s: %s", finished.Type, raw)
	return finished, nil
}

func pingTick() event.Event {
	ce := event.New()
	ce.SetID(uuid.NewString())
	ce.SetSource("demo/ping")
	ce.SetType("dev.knative.sources.ping")
	return ce
}

func indent(v any) string {
	s, _ := v.(string)
	return "           " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n           ")
}

func prefixed(w io.Writer, prefix string) io.Writer {
	return &prefixWriter{w: w, prefix: prefix}
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprint(p.w, p.prefix+line)
		}
	}
	return len(b), nil
}
