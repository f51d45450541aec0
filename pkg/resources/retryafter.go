package resources

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter reads an HTTP Retry-After value: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3). It returns 0 when the value is absent,
// malformed or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// RetryAfterOf is the server's Retry-After carried by err (a
// *RetryableError), 0 if none.
func RetryAfterOf(err error) time.Duration {
	var r *RetryableError
	if errors.As(err, &r) {
		return r.RetryAfter
	}
	return 0
}

// Backoff is the wait before the next attempt: the server's Retry-After
// when it gave one, else delay; either with jitter (up to a quarter more
// for Retry-After, over [delay/2, delay) otherwise), so that many clients
// told to wait by one gateway do not come back at the same instant.
func Backoff(delay, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter + rand.N(retryAfter/4+1) //nolint:gosec // G404: jitter spreads clients, it guards no secret
	}
	if delay <= 0 {
		return 0
	}
	return delay/2 + rand.N(delay/2+1) //nolint:gosec // G404: as above
}
