// Command function serves the Keptn job function as a CloudEvents HTTP
// server: the image behind the Knative Service, and `make demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/serve"
)

func main() {
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, `Usage: function [--listen ADDR]

Receives Keptn task events (sh.keptn.event.<task>.triggered) as CloudEvents on
"/", runs each matching job/config.yaml action as a Kubernetes Job, and sends
.started/.finished back to Keptn. Health: /health/readiness, /health/liveness.

Answers: 202 accepted; 400 malformed event (final); 413 body over 1 MiB;
5xx Kubernetes or Keptn unreachable (the broker retries; a retry never
duplicates a Job or an event).

Flags:
`)
		flag.PrintDefaults()
		fmt.Fprint(os.Stderr, "\nEnvironment:\n")
		function.PrintEnv(os.Stderr)
	}
	listen := flag.String("listen", "", "address to listen on (default :$PORT)")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "function:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	env := environ()
	if listen == "" {
		port := env["PORT"]
		if port == "" {
			port = "8080"
		}
		listen = ":" + port
	}
	fn := function.New()
	if err := fn.Start(ctx, env); err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// Printed for scripts (make demo, tests) that listen on port 0.
	log.Info("listening", "address", l.Addr().String())
	err = serve.Run(ctx, l, fn, log, 25*time.Second)
	if serr := fn.Stop(context.Background()); err == nil {
		err = serr
	}
	return err
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}
