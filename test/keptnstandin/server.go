package keptnstandin

import (
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultToken is the x-token the stand-in expects unless WithToken says
// otherwise. It is a test value, never a real Keptn token.
const DefaultToken = "keptn-standin-token"

type options struct {
	listen        string
	token         string
	gateway       bool
	maxEventBytes int64
	upstreamURL   string
	onEvent       func(Event)
	t             TB
	// rateLimitWindow: see WithRateLimitWindow.
	rateLimitWindow time.Duration
	// tls: see WithTLS.
	tls *tls.Certificate
}

// Option configures a Server.
type Option func(*options)

// WithListen sets the loopback (or link-local) address Start listens on
// (default 127.0.0.1:0, a free port).
func WithListen(addr string) Option { return func(o *options) { o.listen = addr } }

// WithToken sets the x-token that events (and, behind the gateway, resource
// requests) must carry.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithGateway serves the paths a client sees behind Keptn's api-gateway-nginx
// (/api/v1/event, /api/resource-service/v1/..., resourceURI escaped twice,
// x-token on resource requests too) instead of the in-cluster ones (/v1/...).
func WithGateway(on bool) Option { return func(o *options) { o.gateway = on } }

// WithMaxEventSizeKB sets the api-service's MAX_EVENT_SIZE_KB (default 64).
func WithMaxEventSizeKB(kb int) Option {
	return func(o *options) { o.maxEventBytes = int64(kb) * 1024 }
}

// WithUpstreamURL sets metadata.upstreamURL in resource responses.
func WithUpstreamURL(u string) Option { return func(o *options) { o.upstreamURL = u } }

// WithEventHook calls f with every accepted event, before the 200 is sent.
// A slow f slows the client down.
func WithEventHook(f func(Event)) Option { return func(o *options) { o.onEvent = f } }

// WithTest ties the server to a test: at cleanup it is closed and every
// response that broke the Keptn API contract fails the test.
func WithTest(t TB) Option { return func(o *options) { o.t = t } }

// Server is the Keptn control-plane stand-in: the resource-service's GET
// routes over an in-memory repository of commits, and the api-service's
// POST /v1/event with Keptn's validation, both checked against the contract:
// the embedded OpenAPI document and go-utils' wire types. It is an
// http.Handler; Start also serves it on loopback.
type Server struct {
	opts     options
	contract *contract
	repo     repository
	events   eventLog
	shipyard shipyard
	limiter  rateLimiter

	mu         sync.Mutex
	counts     map[string]int
	violations []Violation

	down, hangUp atomic.Bool

	httpSrv *http.Server
	url     string
	served  chan struct{} // closed when Serve returns
}

// New builds a Server with the embedded contract; Start serves it.
func New(opts ...Option) (*Server, error) {
	o := options{
		listen:          "127.0.0.1:0",
		token:           DefaultToken,
		maxEventBytes:   64 * 1024,
		upstreamURL:     "https://git.keptn-standin.invalid/keptn.git",
		rateLimitWindow: 3 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := embeddedContract()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, contract: c, counts: map[string]int{}}
	s.limiter.window = o.rateLimitWindow
	if o.t != nil {
		o.t.Cleanup(func() {
			s.Close()
			s.CheckContract(o.t)
			s.CheckShipyard(o.t)
		})
	}
	return s, nil
}

// NewStarted builds and starts a Server for a test, failing it on error; the
// server is closed and its contract checked at cleanup.
func NewStarted(t TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(append(opts, WithTest(t))...)
	if err != nil {
		t.Fatalf("keptn stand-in: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("keptn stand-in: %v", err)
	}
	return s
}

// Start listens on the loopback address of WithListen and serves.
func (s *Server) Start() error {
	if s.httpSrv != nil {
		return errors.New("keptn stand-in: already started")
	}
	host, _, err := net.SplitHostPort(s.opts.listen)
	if err != nil {
		return fmt.Errorf("keptn stand-in: listen address %q: %w", s.opts.listen, err)
	}
	// Link-local is the real node's pod bridge (testbed.PodBridgeIP): its
	// pods reach the host there, and nothing beyond this machine does.
	if ip := net.ParseIP(host); ip == nil || (!ip.IsLoopback() && !ip.IsLinkLocalUnicast()) {
		return fmt.Errorf("keptn stand-in: listen address %q is neither a loopback nor a link-local IP; only those are allowed", s.opts.listen)
	}
	ln, err := net.Listen("tcp", s.opts.listen)
	if err != nil {
		return fmt.Errorf("keptn stand-in: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	if s.opts.tls != nil {
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*s.opts.tls}})
		s.url = "https://" + ln.Addr().String()
	}
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		_ = s.httpSrv.Serve(ln) // returns ErrServerClosed on Close
	}()
	return nil
}

// URL is the base URL of the started server, http://127.0.0.1:<port>
// (https:// WithTLS).
func (s *Server) URL() string { return s.url }

// APIURL is where a client sends events: it appends /v1/event. In gateway
// mode it is KEPTN_API_ENDPOINT (…/api).
func (s *Server) APIURL() string {
	if s.opts.gateway {
		return s.url + "/api"
	}
	return s.url
}

// ResourceServiceURL is where a client reads resources: it appends
// /v1/project/….
func (s *Server) ResourceServiceURL() string {
	if s.opts.gateway {
		return s.url + "/api/resource-service"
	}
	return s.url
}

// Token is the x-token the server expects.
func (s *Server) Token() string { return s.opts.token }

// Close stops serving and closes every connection. It is safe to call twice.
func (s *Server) Close() {
	if s.httpSrv == nil {
		return
	}
	_ = s.httpSrv.Close()
	<-s.served
}

// SetDown makes every request fail with 503, as when Keptn is unreachable
// behind its gateway.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetHangUp makes the server close every connection without answering.
func (s *Server) SetHangUp(hangUp bool) { s.hangUp.Store(hangUp) }

// Requests returns how many requests reached a route (see the Key constants),
// counted before SetDown or SetHangUp apply.
func (s *Server) Requests(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key]
}

// RequestCounts returns the request count of every route seen.
func (s *Server) RequestCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}

// ServeHTTP routes, authenticates, validates and answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, routeErr := parseRoute(r.URL.EscapedPath(), s.opts.gateway)
	key := rt.key()
	if routeErr == nil && r.Method != rt.method {
		key = r.Method + " " + rt.template
	}
	s.mu.Lock()
	s.counts[key]++
	s.mu.Unlock()

	if s.hangUp.Load() {
		panic(http.ErrAbortHandler) // net/http closes the connection silently
	}
	if s.down.Load() {
		plainReply(http.StatusServiceUnavailable, "503 Service Temporarily Unavailable").write(w)
		return
	}
	s.handle(r, rt, routeErr).write(w)
}

func (s *Server) handle(r *http.Request, rt route, routeErr error) reply {
	switch {
	case errors.Is(routeErr, errBadEscape):
		return plainReply(http.StatusBadRequest, "400 Bad Request") // what nginx answers
	case routeErr != nil:
		s.recordViolation(sideRequest, r, http.StatusNotFound, fmt.Errorf("no route for %s %s", r.Method, r.URL.EscapedPath()))
		return plainReply(http.StatusNotFound, "404 page not found") // gin's answer
	case r.Method != rt.method && rt.op == opPostEvent:
		return keptnError(http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed, but [POST] are", r.Method))
	case r.Method != rt.method:
		return keptnError(http.StatusNotImplemented, "the Keptn stand-in serves resources read-only")
	}
	in, err := s.contract.input(r, rt)
	if err != nil { // a routing table that disagrees with the document
		s.recordViolation(sideResponse, r, http.StatusInternalServerError, err)
		return keptnError(http.StatusInternalServerError, err.Error())
	}
	var rep reply
	if rt.op == opPostEvent {
		rep = s.serveEvent(r, in)
	} else {
		rep = s.checkedResource(r, rt, in)
	}
	// The answer must fit the OpenAPI document and go-utils' wire types.
	if err := errors.Join(s.contract.validateResponse(r.Context(), in, rep), checkResponseWire(rt, rep)); err != nil {
		s.recordViolation(sideResponse, r, rep.status, err)
	}
	return rep
}

func (s *Server) checkedResource(r *http.Request, rt route, in requestInput) reply {
	if s.opts.gateway {
		if rep, ok := s.authorize(r, true); !ok {
			return rep
		}
	}
	if err := s.contract.validateRequest(r.Context(), in); err != nil {
		s.recordViolation(sideRequest, r, http.StatusBadRequest, err)
		return keptnError(http.StatusBadRequest, errorText(err))
	}
	return s.serveResource(r, rt)
}

// authorize checks x-token with Keptn's answers: the api-service's
// go-openapi security for events, the gateway's auth_request for resources.
// A request without the header breaks the contract (its security scheme) and
// is recorded as a violation; a wrong token is only refused.
func (s *Server) authorize(r *http.Request, atGateway bool) (reply, bool) {
	if s.opts.gateway && s.limiter.blocked(r, time.Now()) {
		// The gateway's rate limit comes before any token check.
		return gatewayReply(http.StatusTooManyRequests, gatewayTooManyBody), false
	}
	token, sent := r.Header["X-Token"]
	if sent && len(token) == 1 && subtle.ConstantTimeCompare([]byte(token[0]), []byte(s.opts.token)) == 1 {
		return reply{}, true
	}
	if s.opts.gateway {
		s.limiter.failed(r, time.Now())
	}
	if !sent || token[0] == "" {
		s.recordViolation(sideRequest, r, http.StatusUnauthorized, errors.New("no x-token header: the contract's security scheme requires it"))
	}
	switch {
	case atGateway:
		return gatewayReply(http.StatusUnauthorized, gateway401Body), false
	case !sent || token[0] == "":
		return keptnError(http.StatusUnauthorized, "unauthenticated for invalid credentials"), false
	default:
		return keptnError(http.StatusUnauthorized, "incorrect api key auth"), false
	}
}

// reply is a complete answer, built before it is written so that it can be
// checked against the contract first.
type reply struct {
	status      int
	contentType string
	body        []byte
	closeConn   bool
}

func (rep reply) write(w http.ResponseWriter) {
	if rep.contentType != "" {
		w.Header().Set("Content-Type", rep.contentType)
	}
	if rep.closeConn {
		w.Header().Set("Connection", "close")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

func jsonReply(status int, v any) reply {
	body, err := json.Marshal(v)
	if err != nil { // only for values this package builds, which marshal
		panic(fmt.Sprintf("keptnstandin: marshalling a reply: %v", err))
	}
	return reply{status: status, contentType: "application/json; charset=utf-8", body: body}
}

// keptnError is the {"code":…,"message":…} body every Keptn service uses.
func keptnError(status int, msg string) reply {
	return jsonReply(status, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{status, msg})
}

func plainReply(status int, text string) reply {
	return reply{status: status, contentType: "text/plain; charset=utf-8", body: []byte(text)}
}
