package launch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/util/cache"

	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

// CachedGetter is a bounded LRU cache in front of a resources.ResourceGetter,
// for the config lookup that runs on every event: apimachinery's
// LRUExpireCache holds the entries and singleflight joins concurrent
// misses. It lives here, not in pkg/keptn, because the fetcher imports
// pkg/keptn and carries no Kubernetes library (design_test.go).
//
//   - A resource read AT a commit never changes, so it stays until the LRU
//     evicts it.
//   - A resource read without a commit (the project level, i.e. HEAD) expires
//     after ttl.
//   - A not-found answer is cached for notFoundTTL (default min(ttl, 10s)),
//     whatever the commit: a config pushed a moment later should be seen.
//   - Other errors are not cached.
//   - Concurrent misses for one key share a single fetch. That fetch runs
//     detached from the first caller's cancellation (so one impatient caller
//     does not fail the others); the wrapped getter must bound its own
//     requests, as resources.ResourceClient does with its per-request timeout.
type CachedGetter struct {
	g           resources.ResourceGetter
	ttl         time.Duration
	notFoundTTL time.Duration
	now         func() time.Time
	cache       *cache.LRUExpireCache
	calls       singleflight.Group
}

type cacheKey struct {
	scope       resources.Scope
	uri, commit string
}

// cacheEntry is a resource, or nil with the not-found error.
type cacheEntry struct {
	res *resources.Resource
	err error
}

// forever is the TTL of a resource read at a commit: LRUExpireCache has no
// "never", and a century outlives any process.
const forever = 100 * 365 * 24 * time.Hour

// CacheOption configures NewCachedGetter.
type CacheOption func(*CachedGetter)

// WithNotFoundTTL sets how long a not-found answer is remembered (0 = not
// at all).
func WithNotFoundTTL(d time.Duration) CacheOption {
	return func(c *CachedGetter) { c.notFoundTTL = d }
}

// WithCacheClock replaces time.Now, for tests.
func WithCacheClock(now func() time.Time) CacheOption {
	return func(c *CachedGetter) { c.now = now }
}

var _ resources.ResourceGetter = (*CachedGetter)(nil)

// clockFunc is a func as LRUExpireCache's Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// NewCachedGetter keeps at most size entries (a size below 1 is taken as 1).
func NewCachedGetter(g resources.ResourceGetter, size int, ttl time.Duration, opts ...CacheOption) *CachedGetter {
	c := &CachedGetter{g: g, ttl: ttl, notFoundTTL: min(ttl, 10*time.Second), now: time.Now}
	for _, o := range opts {
		o(c)
	}
	c.cache = cache.NewLRUExpireCacheWithClock(max(size, 1), clockFunc(func() time.Time { return c.now() }))
	return c
}

// GetResource answers from the cache or fetches once for all concurrent
// callers. The returned Resource is the caller's own copy.
func (c *CachedGetter) GetResource(ctx context.Context, s resources.Scope, uri, gitCommitID string) (*resources.Resource, error) {
	key := cacheKey{scope: s, uri: uri, commit: gitCommitID}
	if v, ok := c.cache.Get(key); ok {
		e := v.(cacheEntry)
		return cloneResource(e.res), e.err
	}
	detached := context.WithoutCancel(ctx)
	ch := c.calls.DoChan(fmt.Sprintf("%q %q %q %q %q", s.Project, s.Stage, s.Service, uri, gitCommitID), func() (any, error) {
		return c.fetch(detached, key)
	})
	select {
	case r := <-ch:
		res, _ := r.Val.(*resources.Resource)
		return cloneResource(res), r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *CachedGetter) fetch(ctx context.Context, key cacheKey) (*resources.Resource, error) {
	res, err := c.g.GetResource(ctx, key.scope, key.uri, key.commit)
	switch {
	case err == nil:
		ttl := forever
		if key.commit == "" {
			ttl = c.ttl
		}
		c.cache.Add(key, cacheEntry{res: res}, ttl)
	case errors.Is(err, resources.ErrNotFound) && c.notFoundTTL > 0:
		c.cache.Add(key, cacheEntry{err: err}, c.notFoundTTL)
	}
	return res, err
}

// Len is the number of cached entries that have not expired.
func (c *CachedGetter) Len() int { return len(c.cache.Keys()) }

func cloneResource(r *resources.Resource) *resources.Resource {
	if r == nil {
		return nil
	}
	cp := *r
	cp.Content = append([]byte(nil), r.Content...)
	return &cp
}
