package keptnstandin

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Keptn's api-gateway-nginx answers with these exact bodies (a space after
// the comma: nginx's literal strings, not a JSON encoder's).
const (
	gatewayTooManyBody = `{"code":429, "message":"too many requests"}`
	gateway401Body     = `{"code":401, "message":"unauthenticated or invalid credentials"}`
)

// failedLoginsAllowed is how many failed authentications one client
// address may have before the gateway rate-limits it.
const failedLoginsAllowed = 2

// rateLimiter models the gateway's rate limit: after two failed
// authentications from one client address, every request from it gets 429,
// valid ones included, for a while (the window); a client that backs off
// gets through again.
type rateLimiter struct {
	mu       sync.Mutex
	window   time.Duration
	failures map[string]int
	until    map[string]time.Time
	limited  int
}

func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked reports whether r's client is rate-limited now, counting it.
func (l *rateLimiter) blocked(r *http.Request, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	addr := clientAddress(r)
	until, ok := l.until[addr]
	if !ok {
		return false
	}
	if now.Before(until) {
		l.limited++
		return true
	}
	delete(l.until, addr)
	delete(l.failures, addr)
	return false
}

// failed counts a failed authentication of r's client.
func (l *rateLimiter) failed(r *http.Request, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures == nil {
		l.failures, l.until = map[string]int{}, map[string]time.Time{}
	}
	addr := clientAddress(r)
	l.failures[addr]++
	if l.failures[addr] >= failedLoginsAllowed {
		l.until[addr] = now.Add(l.window)
	}
}

// WithRateLimitWindow sets how long the gateway rate-limits a client
// address after its second failed authentication (gateway mode only;
// default 3s).
func WithRateLimitWindow(d time.Duration) Option {
	return func(o *options) { o.rateLimitWindow = d }
}

// TooManyRequests is how many requests the gateway answered 429.
func (s *Server) TooManyRequests() int {
	s.limiter.mu.Lock()
	defer s.limiter.mu.Unlock()
	return s.limiter.limited
}

func gatewayReply(status int, body string) reply {
	return reply{status: status, contentType: "application/json", body: []byte(body)}
}
