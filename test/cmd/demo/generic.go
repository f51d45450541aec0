package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/test/fetcher"
	"github.com/keptn-sandbox/job-executor-knative/test/harness"
)

const genericConfigMap = "job-files"

// runGeneric is the generic scenario: no Keptn. The event goes straight to
// the function, as an operator's own Trigger delivers it.
func runGeneric(ctx context.Context, kubeconfig string, timeout time.Duration, verbose bool) error {
	if kubeconfig != "" {
		return errors.New("--generic runs on the local control plane only (--kubeconfig is the Keptn scenario's)")
	}
	p := printer{start: time.Now()}
	bed, err := startBed(ctx, p, false)
	if err != nil {
		return err
	}
	defer stopBed(p, bed)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	kube := bed.Client()
	env, err := prepareGeneric(ctx, p, kube)
	if err != nil {
		return err
	}
	results := newResultSink()
	defer results.Close()
	env["GENERIC_SINK"] = results.URL
	fnURL, stopFn, err := startFunction(ctx, bed.KubeconfigPath(), nil, verbose, false, env)
	if err != nil {
		return err
	}
	defer stopFn()
	p.say("function listening on %s (generic mode on, results to %s)", fnURL, results.URL)
	if _, err := bed.StartAdapter(ctx, harness.JobsSource(namespace), fnURL); err != nil {
		return err
	}
	_ = bed.SetLogs(ctx, namespace, jobs.ContainerName(0, "Build"), `building shop for "branch": "main"`)

	ce := genericEvent()
	p.say("CI sending %s (id %s, source %s) to the function", ce.Type(), ce.ID(), ce.Source())
	if status, err := deliver(ctx, fnURL, ce); err != nil || status >= 300 {
		return fmt.Errorf("the function answered %d: %v", status, err) //nolint:errorlint // err may be nil: it is shown, not wrapped
	}
	job, err := findJob(ctx, kube, ce.ID())
	if err != nil {
		return err
	}
	p.say("Job %s/%s created (%s=%s):", job.Namespace, job.Name, jobs.AnnotationMode, job.Annotations[jobs.AnnotationMode])
	for _, c := range append(job.Spec.Template.Spec.InitContainers, job.Spec.Template.Spec.Containers...) {
		fmt.Printf("           %-28s %s %s\n", c.Name, c.Image, strings.Join(append(c.Command, c.Args...), " "))
	}
	configMaps := fetcher.WithConfigMaps(func(name string) (map[string]string, error) {
		cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return cm.Data, nil
	})
	if err := runFetcher(ctx, p, job, nil, configMaps); err != nil {
		return err
	}
	res, err := results.wait(ctx, p, fnURL, ce.ID())
	if err != nil {
		return err
	}
	return sayResult(p, res)
}

// prepareGeneric makes the job namespace and the operator's config: the
// ConfigMap of files in the namespace, config.yaml in a local directory
// standing for its mount. It returns the function's generic settings.
func prepareGeneric(ctx context.Context, p printer, kube kubernetes.Interface) (map[string]string, error) {
	if err := prepareNamespace(ctx, kube, "unused: generic Jobs carry no token"); err != nil {
		return nil, err
	}
	src := filepath.Join(sourceDir(), "generic")
	files := map[string]string{}
	entries, err := os.ReadDir(filepath.Join(src, "files"))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, "files", e.Name()))
		if err != nil {
			return nil, err
		}
		files[e.Name()] = string(b)
	}
	_, err = kube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: genericConfigMap}, Data: files,
	}, metav1.CreateOptions{})
	if ignoreExists(err) != nil {
		return nil, err
	}
	p.say("ConfigMap %s/%s holds %s; config.yaml from %s", namespace, genericConfigMap, strings.Join(slices.Sorted(maps.Keys(files)), ", "), src)
	empty, err := os.MkdirTemp("", "demo-no-keptn-")
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"GENERIC_CONFIG_DIR": src,
		"GENERIC_CONFIGMAP":  genericConfigMap,
		// No Keptn here: its mode reads an empty directory.
		"KEPTN_CONFIG_DIR": empty,
	}, nil
}

func genericEvent() event.Event {
	return harness.GenericEvent("com.example.build.requested", "https://ci.example.com/pipelines/shop", "commit/4f2a9c1",
		map[string]any{"branch": "main", "repo": "shop"})
}

// resultSink receives the result events, as a Broker or any CloudEvents
// receiver named by GENERIC_SINK would.
type resultSink struct {
	*httptest.Server
	events chan event.Event
}

func newResultSink() *resultSink {
	s := &resultSink{events: make(chan event.Event, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.events <- *ev
		w.WriteHeader(http.StatusAccepted)
	}))
	return s
}

// wait plays the PingSource (the sweep under the watch) until the result
// of trigger id arrives.
func (s *resultSink) wait(ctx context.Context, p printer, fnURL, id string) (event.Event, error) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case ev := <-s.events:
			if ev.Extensions()[generic.ExtTriggerID] == id {
				return ev, nil
			}
		case <-tick.C:
			_, _ = deliver(ctx, fnURL, pingTick())
		case <-ctx.Done():
			return event.Event{}, fmt.Errorf("no result event: %w", ctx.Err())
		}
	}
}

func sayResult(p printer, res event.Event) error {
	var data map[string]any
	if err := json.Unmarshal(res.Data(), &data); err != nil {
		return fmt.Errorf("result data: %w", err)
	}
	p.say("the sink received %s (subject %s, %s %v)", res.Type(), res.Subject(), generic.ExtTriggerID, res.Extensions()[generic.ExtTriggerID])
	raw, _ := json.Marshal(map[string]any{"status": data["status"], "result": data["result"], "tasks": data["tasks"]}) //nolint:errchkjson // values decoded from JSON marshal again
	fmt.Printf("           %s\n\n%s\n", raw, indent(data["message"]))
	if data["result"] != "pass" {
		return fmt.Errorf("the job's result is %v", data["result"])
	}
	p.say("done; stopping everything")
	return nil
}
