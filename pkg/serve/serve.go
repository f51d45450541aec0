// Package serve runs a CloudEvents function over HTTP as a Knative Service
// expects: binary and structured events on "/", health endpoints, bounded
// bodies, statuses that tell the broker whether to retry, and a graceful
// shutdown on SIGTERM.
package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// MaxBodyBytes bounds an incoming event. Keptn's own limit is 64 KB; 1 MiB
// leaves room for large triggered events while keeping memory bounded.
const MaxBodyBytes = 1 << 20

// Function is the instanced kn func interface.
type Function interface {
	Handle(ctx context.Context, e event.Event) (*event.Event, error)
	Ready(ctx context.Context) (bool, error)
	Alive(ctx context.Context) (bool, error)
}

// Handler returns the HTTP handler for fn.
func Handler(fn Function, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health/readiness", probe(fn.Ready))
	mux.HandleFunc("/health/liveness", probe(fn.Alive))
	mux.Handle("/", &receiver{fn: fn, log: log})
	return mux
}

func probe(check func(context.Context) (bool, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ok, err := check(r.Context())
		if err != nil || !ok {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

type receiver struct {
	fn  Function
	log *slog.Logger
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a CloudEvent", http.StatusMethodNotAllowed)
		return
	}
	if r.ContentLength > MaxBodyBytes {
		http.Error(w, fmt.Sprintf("event body of %d bytes is over the limit of %d", r.ContentLength, MaxBodyBytes), http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > MaxBodyBytes {
		http.Error(w, fmt.Sprintf("event body is over the limit of %d bytes", MaxBodyBytes), http.StatusRequestEntityTooLarge)
		return
	}
	ev, err := decode(r, body)
	if err != nil {
		rc.log.Warn("refusing request that is not a valid CloudEvent", "error", err.Error())
		http.Error(w, "not a valid CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	reply, err := rc.fn.Handle(r.Context(), *ev)
	if err != nil {
		status := http.StatusInternalServerError
		var res *cehttp.Result
		if protocol.ResultAs(err, &res) {
			status = res.StatusCode
		}
		http.Error(w, err.Error(), status)
		return
	}
	if reply == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if err := cehttp.WriteResponseWriter(r.Context(), binding.ToMessage(reply), http.StatusOK, w); err != nil {
		rc.log.Error("writing reply", "error", err.Error())
	}
}

func decode(r *http.Request, body []byte) (*event.Event, error) {
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	msg := cehttp.NewMessageFromHttpRequest(req)
	defer func() { _ = msg.Finish(nil) }()
	ev, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		return nil, err
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

// Run serves fn on l until ctx is done, then shuts down gracefully: it stops
// accepting, lets in-flight events finish (up to grace) and returns.
func Run(ctx context.Context, l net.Listener, fn Function, log *slog.Logger, grace time.Duration) error {
	srv := &http.Server{
		Handler:           Handler(fn, log),
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Creating Jobs and sending .started takes well under this; the
		// broker's own request timeout is longer.
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  90 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
