package main

import (
	"context"
	"testing"
	"time"
)

// TestDemo runs `make demo` and `make demo-generic` as the README's
// commands do, so the demos cannot rot: each fails unless its report (the
// Keptn .finished, the generic result event) arrives with result pass.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own control plane")
	}
	for name, scenario := range map[string]func(context.Context, string, time.Duration, bool) error{
		"keptn":   run,
		"generic": runGeneric,
	} {
		t.Run(name, func(t *testing.T) {
			// The bound covers a first build of the control plane too, for
			// a `go test` run without `make`.
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
			defer cancel()
			if err := scenario(ctx, "", 3*time.Minute, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}
