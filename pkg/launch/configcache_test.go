package launch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

var svcScope = resources.Scope{Project: "podtato", Stage: "dev", Service: "helloservice"}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingGetter serves "<uri>@<commit>#<n>" where n counts the fetches, so
// a test sees whether an answer came from the cache.
type countingGetter struct {
	calls   atomic.Int32
	missing map[string]bool
	fail    error
}

func (g *countingGetter) GetResource(_ context.Context, s resources.Scope, uri, commit string) (*resources.Resource, error) {
	n := g.calls.Add(1)
	if g.fail != nil {
		return nil, g.fail
	}
	if g.missing[uri] {
		return nil, fmt.Errorf("%s: %w", uri, resources.ErrNotFound)
	}
	return &resources.Resource{URI: uri, Content: fmt.Appendf(nil, "%s@%s#%d", uri, commit, n)}, nil
}

func content(t *testing.T, g resources.ResourceGetter, s resources.Scope, uri, commit string) string {
	t.Helper()
	r, err := g.GetResource(context.Background(), s, uri, commit)
	require.NoError(t, err)
	return string(r.Content)
}

func TestCacheCommitEntriesAreImmutable(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	g := &countingGetter{}
	c := NewCachedGetter(g, 10, time.Minute, WithCacheClock(clk.now))
	assert.Equal(t, "a@c1#1", content(t, c, svcScope, "a", "c1"))
	clk.advance(24 * time.Hour)
	assert.Equal(t, "a@c1#1", content(t, c, svcScope, "a", "c1"))
	assert.Equal(t, int32(1), g.calls.Load())
	// Another commit or scope is another key.
	assert.Equal(t, "a@c2#2", content(t, c, svcScope, "a", "c2"))
	assert.Equal(t, "a@c1#3", content(t, c, resources.Scope{Project: "podtato", Stage: "dev"}, "a", "c1"))
}

func TestCacheHeadEntriesExpireAfterTTL(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	g := &countingGetter{}
	c := NewCachedGetter(g, 10, time.Minute, WithCacheClock(clk.now))
	p := resources.Scope{Project: "podtato"}
	assert.Equal(t, "a@#1", content(t, c, p, "a", ""))
	clk.advance(time.Minute)
	assert.Equal(t, "a@#1", content(t, c, p, "a", ""), "LRUExpireCache serves up to the TTL itself")
	clk.advance(time.Nanosecond)
	assert.Equal(t, "a@#2", content(t, c, p, "a", ""))
}

func TestCacheNotFoundIsCachedBriefly(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	g := &countingGetter{missing: map[string]bool{"gone": true}}
	c := NewCachedGetter(g, 10, time.Hour, WithCacheClock(clk.now), WithNotFoundTTL(5*time.Second))
	for range 3 {
		_, err := c.GetResource(context.Background(), svcScope, "gone", "c1")
		assert.ErrorIs(t, err, resources.ErrNotFound)
	}
	assert.Equal(t, int32(1), g.calls.Load())
	clk.advance(5*time.Second + time.Nanosecond)
	_, err := c.GetResource(context.Background(), svcScope, "gone", "c1")
	assert.ErrorIs(t, err, resources.ErrNotFound)
	assert.Equal(t, int32(2), g.calls.Load(), "a not-found at a commit expires too")
}

func TestCacheDefaultNotFoundTTL(t *testing.T) {
	c := NewCachedGetter(&countingGetter{}, 1, time.Minute)
	assert.Equal(t, 10*time.Second, c.notFoundTTL)
	c = NewCachedGetter(&countingGetter{}, 1, time.Second)
	assert.Equal(t, time.Second, c.notFoundTTL)
}

func TestCacheDoesNotKeepOtherErrors(t *testing.T) {
	g := &countingGetter{fail: &resources.RetryableError{StatusCode: 503, Err: errors.New("down")}}
	c := NewCachedGetter(g, 10, time.Hour)
	for range 2 {
		_, err := c.GetResource(context.Background(), svcScope, "a", "c1")
		assert.False(t, permanent.Is(err))
	}
	assert.Equal(t, int32(2), g.calls.Load())
	assert.Equal(t, 0, c.Len())
}

func TestCacheIsBounded(t *testing.T) {
	g := &countingGetter{}
	c := NewCachedGetter(g, 2, time.Hour)
	content(t, c, svcScope, "a", "c")
	content(t, c, svcScope, "b", "c")
	content(t, c, svcScope, "a", "c") // a is now the most recent
	content(t, c, svcScope, "c", "c") // evicts b
	assert.Equal(t, 2, c.Len())
	assert.Equal(t, int32(3), g.calls.Load())
	assert.Equal(t, "a@c#1", content(t, c, svcScope, "a", "c"))
	assert.Equal(t, "b@c#4", content(t, c, svcScope, "b", "c"))
}

func TestCacheReturnsCopies(t *testing.T) {
	c := NewCachedGetter(&countingGetter{}, 2, time.Hour)
	r, err := c.GetResource(context.Background(), svcScope, "a", "c")
	require.NoError(t, err)
	r.Content[0] = 'X'
	assert.Equal(t, "a@c#1", content(t, c, svcScope, "a", "c"))
}

// blockingGetter holds every fetch until release is closed.
type blockingGetter struct {
	calls   atomic.Int32
	release chan struct{}
}

func (g *blockingGetter) GetResource(_ context.Context, s resources.Scope, uri, commit string) (*resources.Resource, error) {
	g.calls.Add(1)
	<-g.release
	return &resources.Resource{URI: uri, Content: []byte("shared")}, nil
}

func TestCacheConcurrentMissesFetchOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &blockingGetter{release: make(chan struct{})}
		c := NewCachedGetter(g, 10, time.Hour)
		const n = 8
		results := make(chan string, n)
		for range n {
			go func() {
				r, err := c.GetResource(context.Background(), svcScope, "a", "c")
				if err != nil {
					results <- err.Error()
					return
				}
				results <- string(r.Content)
			}()
		}
		synctest.Wait() // every caller is now blocked: in the getter or waiting for it
		assert.Equal(t, int32(1), g.calls.Load())
		close(g.release)
		for range n {
			assert.Equal(t, "shared", <-results)
		}
	})
}

func TestCacheWaiterCancellationDoesNotFailOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &blockingGetter{release: make(chan struct{})}
		c := NewCachedGetter(g, 10, time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		firstErr := make(chan error, 1)
		go func() {
			_, err := c.GetResource(ctx, svcScope, "a", "c")
			firstErr <- err
		}()
		synctest.Wait()
		second := make(chan string, 1)
		go func() {
			r, err := c.GetResource(context.Background(), svcScope, "a", "c")
			if err != nil {
				second <- err.Error()
				return
			}
			second <- string(r.Content)
		}()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-firstErr, context.Canceled)
		close(g.release)
		assert.Equal(t, "shared", <-second)
		assert.Equal(t, int32(1), g.calls.Load())
	})
}
