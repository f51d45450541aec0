// Command function serves the Keptn job function as a CloudEvents HTTP
// server: the image behind the Knative Service, and `make demo`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/function"
	"github.com/keptn-sandbox/job-executor-knative/pkg/coldstart"
	"github.com/keptn-sandbox/job-executor-knative/pkg/serve"
)

func main() {
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, `Usage: function [--listen ADDR] [--metrics-listen ADDR]

Receives Keptn task events (sh.keptn.event.<task>.triggered) as CloudEvents on
"/", runs each matching job/config.yaml action as a Kubernetes Job, and sends
.started/.finished back to Keptn. Health: /health/readiness, /health/liveness.
Prometheus metrics: /metrics on $METRICS_PORT (docs/observability.md).

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
	metricsListen := flag.String("metrics-listen", "", "address of the Prometheus /metrics endpoint (default :$METRICS_PORT)")
	flag.Parse()
	if err := run(*listen, *metricsListen); err != nil {
		fmt.Fprintln(os.Stderr, "function:", err)
		os.Exit(1)
	}
}

func run(listen, metricsListen string) error {
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
	if metricsListen == "" {
		// Not 9090: Knative's queue-proxy, in the same pod, listens there.
		metricsListen = ":" + orDefault(env["METRICS_PORT"], "9095")
	}
	fn := function.New()
	if err := fn.Start(ctx, env); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// Metrics are for operators, tasks are for users: a port that is taken
	// costs the metrics, not the replica.
	var lc net.ListenConfig
	if ml, err := lc.Listen(ctx, "tcp", metricsListen); err != nil {
		log.Error("not serving metrics", "address", metricsListen, "error", err.Error())
	} else {
		log.Info("serving metrics", "address", ml.Addr().String(), "path", "/metrics")
		go serveMetrics(ctx, ml, fn.MetricsHandler(), log)
	}
	l, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	// The start is done: the collector runs from here on (pkg/coldstart),
	// before "listening" says so to anyone who waits for it.
	coldstart.Done()
	// Printed for scripts (make demo, tests) that listen on port 0.
	log.Info("listening", "address", l.Addr().String())
	err = serve.Run(ctx, l, fn, log, 25*time.Second)
	if serr := fn.Stop(context.Background()); err == nil {
		err = serr
	}
	return err
}

// serveMetrics serves /metrics on l until ctx is done. Scrapes are cheap
// and idempotent, so shutdown does not wait for them.
func serveMetrics(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics server stopped", "error", err.Error())
	}
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}
