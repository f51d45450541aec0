// Command floor is the least a program must do to serve the function's
// purpose: set up a client-go clientset and a CloudEvents HTTP receiver,
// and create one Job per event. The cold-start benchmark builds and
// measures it beside the function, with the same flags, as the floor the
// function is compared with (docs/benchmarks.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
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
	receive, err := cloudevents.NewHTTPReceiveHandler(context.Background(), p, func(ctx context.Context, e cloudevents.Event) cloudevents.Result {
		if _, err := kube.BatchV1().Jobs(ns).Create(ctx, job(e.ID()), metav1.CreateOptions{}); err != nil {
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

// job is a suspended one-container Job: created, never run.
func job(eventID string) *batchv1.Job {
	suspend := true
	name := "floor-" + strings.ToLower(eventID)
	if len(name) > 63 {
		name = name[:63]
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Suspend: &suspend,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "task", Image: "alpine:3.20"}},
			}},
		},
	}
}
