// Command keptn-standin runs the Keptn control-plane stand-in
// (test/keptnstandin) on loopback for the demo and for people trying the
// function by hand. It prints one JSON line with its URLs, then one JSON line
// per accepted event, and stops on SIGINT or SIGTERM.
//
//	go run ./cmd/keptn-standin --dir keptnstandin/testdata/layout
//	go run ./cmd/keptn-standin --dir keptnstandin/testdata/layout --tls-ca-out /tmp/keptn-ca.crt
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keptn-standin:", err)
		os.Exit(1)
	}
}

// started is the first line printed. It never carries the token.
type started struct {
	URL                string `json:"url"`
	APIURL             string `json:"apiURL"`
	ResourceServiceURL string `json:"resourceServiceURL"`
	Gateway            bool   `json:"gateway"`
	Commit             string `json:"commit,omitempty"`
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keptn-standin", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	dir := fs.String("dir", "", "directory in the layout project/<p>[/stage/<s>[/service/<v>]]/resource/<file>, committed once at start")
	token := fs.String("token", keptnstandin.DefaultToken, "x-token the stand-in expects")
	gateway := fs.Bool("gateway", false, "serve the api-gateway paths (/api/v1/event, /api/resource-service/v1/..., URIs escaped twice)")
	maxKB := fs.Int("max-event-size-kb", 64, "the api-service's MAX_EVENT_SIZE_KB")
	caOut := fs.String("tls-ca-out", "", "serve HTTPS from a fresh private CA and write its certificate (PEM) to this file, for KEPTN_CA_FILE and the KEPTN_CA_CONFIGMAP ConfigMap")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(v); err != nil {
			fmt.Fprintln(os.Stderr, "keptn-standin: writing output:", err)
		}
	}

	opts := []keptnstandin.Option{
		keptnstandin.WithListen(*listen),
		keptnstandin.WithToken(*token),
		keptnstandin.WithGateway(*gateway),
		keptnstandin.WithMaxEventSizeKB(*maxKB),
		keptnstandin.WithEventHook(func(e keptnstandin.Event) { emit(e) }),
	}
	if *caOut != "" {
		ca, err := keptnstandin.NewPrivateCA()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*caOut, ca.CertPEM, 0o644); err != nil {
			return fmt.Errorf("--tls-ca-out: %w", err)
		}
		opts = append(opts, keptnstandin.WithTLS(ca.Serving))
	}
	s, err := keptnstandin.New(opts...)
	if err != nil {
		return err
	}
	commit := ""
	if *dir != "" {
		if commit, err = s.LoadDir(*dir); err != nil {
			return err
		}
	}
	if err := s.Start(); err != nil {
		return err
	}
	defer s.Close()
	emit(started{URL: s.URL(), APIURL: s.APIURL(), ResourceServiceURL: s.ResourceServiceURL(), Gateway: *gateway, Commit: commit})

	<-ctx.Done()
	for _, v := range s.ContractViolations() {
		if v.Side == "response" {
			fmt.Fprintln(os.Stderr, "keptn-standin: the stand-in broke the Keptn API contract:", v)
		}
	}
	return nil
}
