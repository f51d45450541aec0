package keptn

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// CachedGetter is a bounded LRU cache in front of a ResourceGetter, for the
// config lookup that runs on every event.
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
//     requests, as ResourceClient does with its per-request timeout.
type CachedGetter struct {
	g           ResourceGetter
	size        int
	ttl         time.Duration
	notFoundTTL time.Duration
	now         func() time.Time

	mu       sync.Mutex
	lru      *list.List // of *cacheEntry, most recent first
	entries  map[cacheKey]*list.Element
	inflight map[cacheKey]*cacheCall
}

type cacheKey struct {
	scope       Scope
	uri, commit string
}

type cacheEntry struct {
	key     cacheKey
	res     *Resource // nil for a cached not-found
	err     error
	expires time.Time // zero: never
}

type cacheCall struct {
	done chan struct{}
	res  *Resource
	err  error
}

// CacheOption configures NewCachedGetter.
type CacheOption func(*CachedGetter)

// WithNotFoundTTL sets how long a not-found answer is remembered (0 = not
// at all).
func WithNotFoundTTL(d time.Duration) CacheOption {
	return func(c *CachedGetter) { c.notFoundTTL = d }
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) CacheOption {
	return func(c *CachedGetter) { c.now = now }
}

var _ ResourceGetter = (*CachedGetter)(nil)

// NewCachedGetter keeps at most size entries (a size below 1 is taken as 1).
func NewCachedGetter(g ResourceGetter, size int, ttl time.Duration, opts ...CacheOption) *CachedGetter {
	c := &CachedGetter{
		g:           g,
		size:        max(size, 1),
		ttl:         ttl,
		notFoundTTL: min(ttl, 10*time.Second),
		now:         time.Now,
		lru:         list.New(),
		entries:     map[cacheKey]*list.Element{},
		inflight:    map[cacheKey]*cacheCall{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// GetResource answers from the cache or fetches once for all concurrent
// callers. The returned Resource is the caller's own copy.
func (c *CachedGetter) GetResource(ctx context.Context, s Scope, uri, gitCommitID string) (*Resource, error) {
	key := cacheKey{scope: s, uri: uri, commit: gitCommitID}
	c.mu.Lock()
	if res, err, ok := c.lookupLocked(key); ok {
		c.mu.Unlock()
		return cloneResource(res), err
	}
	call, running := c.inflight[key]
	if !running {
		call = &cacheCall{done: make(chan struct{})}
		c.inflight[key] = call
		go c.fetch(context.WithoutCancel(ctx), key, call)
	}
	c.mu.Unlock()

	select {
	case <-call.done:
		return cloneResource(call.res), call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *CachedGetter) fetch(ctx context.Context, key cacheKey, call *cacheCall) {
	res, err := c.g.GetResource(ctx, key.scope, key.uri, key.commit)
	c.mu.Lock()
	delete(c.inflight, key)
	call.res, call.err = res, err
	switch {
	case err == nil:
		var exp time.Time
		if key.commit == "" {
			exp = c.now().Add(c.ttl)
		}
		c.storeLocked(&cacheEntry{key: key, res: res, expires: exp})
	case errors.Is(err, ErrNotFound) && c.notFoundTTL > 0:
		c.storeLocked(&cacheEntry{key: key, err: err, expires: c.now().Add(c.notFoundTTL)})
	}
	c.mu.Unlock()
	close(call.done)
}

func (c *CachedGetter) lookupLocked(key cacheKey) (*Resource, error, bool) {
	el, ok := c.entries[key]
	if !ok {
		return nil, nil, false
	}
	e := el.Value.(*cacheEntry)
	if !e.expires.IsZero() && !c.now().Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, key)
		return nil, nil, false
	}
	c.lru.MoveToFront(el)
	return e.res, e.err, true
}

func (c *CachedGetter) storeLocked(e *cacheEntry) {
	if el, ok := c.entries[e.key]; ok {
		c.lru.Remove(el)
	}
	c.entries[e.key] = c.lru.PushFront(e)
	for c.lru.Len() > c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
}

// Len is the number of cached entries, expired ones included until touched.
func (c *CachedGetter) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func cloneResource(r *Resource) *Resource {
	if r == nil {
		return nil
	}
	cp := *r
	cp.Content = append([]byte(nil), r.Content...)
	return &cp
}
