package main

import (
	"context"
	"testing"
	"time"
)

// TestDemo runs `make demo` as the README's first command does, so the demo
// cannot rot: it fails unless the Job's .finished arrives with result pass.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own control plane")
	}
	// The bound covers a first build of the control plane too, for a
	// `go test` run without `make`.
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	if err := run(ctx, "", 3*time.Minute, false); err != nil {
		t.Fatal(err)
	}
}

// TestDemoGeneric runs `make demo-generic`: it fails unless the result
// event arrives with result pass.
func TestDemoGeneric(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own control plane")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	if err := runGeneric(ctx, "", 3*time.Minute, false); err != nil {
		t.Fatal(err)
	}
}
