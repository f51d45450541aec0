package launch

import (
	"context"
	"sync"
	"time"
)

// Background runs the work a triggered event's answer need not wait for:
// the writes that record a .started already sent, and the report a Job
// that ended meanwhile may owe (Handle). The broker's retry can do nothing
// for that work (the .started is out, and a redelivery finds the Job
// claimed), so the answer does not wait for it; the claim keeps every
// other attempt off the Job until it is done.
//
// At most limit pieces run at once: past that, the caller does its work
// before it answers, so an API server that slows down slows the answers
// (the broker's back-pressure) instead of piling work up in the replica.
type Background struct {
	slots chan struct{}
	// timeout bounds one piece: past the .started claim's TTL another
	// attempt may send it again, and recording it late is no use.
	timeout time.Duration

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// NewBackground runs at most limit pieces at once, each for at most
// timeout.
func NewBackground(limit int, timeout time.Duration) *Background {
	return &Background{slots: make(chan struct{}, limit), timeout: timeout}
}

// Go runs f in the background with ctx's values (not its cancellation)
// and reports whether it did; it does not when the limit is reached or
// Wait was called, and the caller then runs f itself. A nil Background
// runs nothing.
func (b *Background) Go(ctx context.Context, f func(context.Context)) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	select {
	case b.slots <- struct{}{}:
	default:
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.slots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
		defer cancel()
		f(ctx)
	}()
	return true
}

// Wait stops taking work and waits for what runs, or for ctx.
func (b *Background) Wait(ctx context.Context) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
