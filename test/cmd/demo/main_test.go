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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, "", 3*time.Minute, false); err != nil {
		t.Fatal(err)
	}
}
