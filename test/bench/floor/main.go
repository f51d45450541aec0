// Command floor is the least a program must do to serve the function's
// purpose: set up a client-go clientset and a CloudEvents HTTP receiver,
// and per event do the I/O the function does on a cold start: fetch
// job/config.yaml from Keptn (once: the function caches it per commit),
// create one Job, and POST .started to Keptn. The cold-start benchmark
// builds and measures it beside the function, with the same flags, as the
// floor the function is compared with (docs/benchmarks.md).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	rc, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ns := os.Getenv("JOB_NAMESPACE")
	p, err := cloudevents.NewHTTP()
	if err != nil {
		return err
	}
	var (
		config   sync.Once
		template batchv1.Job
	)
	receive, err := cloudevents.NewHTTPReceiveHandler(context.Background(), p, func(ctx context.Context, e cloudevents.Event) cloudevents.Result {
		var err error
		config.Do(func() {
			if err = fetchConfig(ctx, e); err == nil {
				template, err = readJob(os.Getenv("FLOOR_JOB"))
			}
		})
		if err == nil {
			_, err = kube.BatchV1().Jobs(ns).Create(ctx, named(template, e.ID()), metav1.CreateOptions{})
		}
		if err == nil {
			err = started(ctx, e)
		}
		if err != nil {
			return cloudevents.NewHTTPResult(http.StatusServiceUnavailable, "%s", err.Error())
		}
		return cloudevents.NewHTTPResult(http.StatusAccepted, "")
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health/readiness", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/", receive)
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(l)
}

// scope is the Keptn scope of a triggered event.
type scope struct {
	Project string `json:"project"`
	Stage   string `json:"stage"`
	Service string `json:"service"`
}

// fetchConfig GETs job/config.yaml of e's service at e's commit.
func fetchConfig(ctx context.Context, e cloudevents.Event) error {
	var s scope
	if err := e.DataAs(&s); err != nil {
		return err
	}
	u := fmt.Sprintf("%s/v1/project/%s/stage/%s/service/%s/resource/job%%2Fconfig.yaml?gitCommitID=%s",
		os.Getenv("KEPTN_RESOURCE_URL"), s.Project, s.Stage, s.Service, e.Extensions()["gitcommitid"])
	return call(ctx, http.MethodGet, u, nil)
}

// started POSTs e's .started to Keptn's event API.
func started(ctx context.Context, e cloudevents.Event) error {
	var s scope
	if err := e.DataAs(&s); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{
		"specversion": "1.0", "id": e.ID() + "-started", "source": "floor",
		"type":           strings.TrimSuffix(e.Type(), ".triggered") + ".started",
		"shkeptncontext": e.Extensions()["shkeptncontext"], "triggeredid": e.ID(),
		"data": s,
	})
	if err != nil {
		return err
	}
	return call(ctx, http.MethodPost, os.Getenv("KEPTN_API_URL")+"/v1/event", body)
}

func call(ctx context.Context, method, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body)) //nolint:gosec // G704: url is the bench's own stand-in, from its environment
	if err != nil {
		return err
	}
	req.Header.Set("x-token", os.Getenv("KEPTN_API_TOKEN"))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: the request above, to the bench's own stand-in
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return nil
}

// job is a suspended one-container Job: created, never run.
// readJob reads the Job the function builds for the bench's events
// (FLOOR_JOB, written by the benchmark with pkg/jobs): the floor creates
// the same object, so the API server, the Job controller and the
// scheduler do the same work for both.
func readJob(path string) (batchv1.Job, error) {
	var job batchv1.Job
	data, err := os.ReadFile(path)
	if err != nil {
		return job, err
	}
	return job, json.Unmarshal(data, &job)
}

// named is a copy of template named after the event.
func named(template batchv1.Job, eventID string) *batchv1.Job {
	job := template.DeepCopy()
	job.Name = "floor-" + strings.ToLower(eventID)
	if len(job.Name) > 63 {
		job.Name = job.Name[:63]
	}
	return job
}
