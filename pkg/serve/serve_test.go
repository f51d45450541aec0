package serve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fn answers by event type, recording what it handled.
type fn struct {
	mu      sync.Mutex
	handled []string
	ready   bool
	block   chan struct{}
}

func (f *fn) Handle(_ context.Context, e event.Event) (*event.Event, error) {
	f.mu.Lock()
	f.handled = append(f.handled, e.ID())
	f.mu.Unlock()
	switch e.Type() {
	case "bad":
		return nil, cehttp.NewResult(http.StatusBadRequest, "bad event")
	case "retry":
		return nil, cehttp.NewResult(http.StatusServiceUnavailable, "later")
	case "plain-error":
		return nil, io.ErrUnexpectedEOF
	case "reply":
		r := event.New()
		r.SetID("r1")
		r.SetType("reply.type")
		r.SetSource("fn")
		return &r, nil
	case "slow":
		<-f.block
	}
	return nil, nil
}
func (f *fn) Ready(context.Context) (bool, error) { return f.ready, nil }
func (f *fn) Alive(context.Context) (bool, error) { return true, nil }

func post(t *testing.T, h http.Handler, typ, body string, binary bool) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if binary {
		req.Header.Set("ce-specversion", "1.0")
		req.Header.Set("ce-id", "id-"+typ)
		req.Header.Set("ce-type", typ)
		req.Header.Set("ce-source", "test")
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/cloudevents+json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestStatuses(t *testing.T) {
	f := &fn{ready: true}
	h := Handler(f, slog.New(slog.DiscardHandler))
	tests := []struct {
		name   string
		typ    string
		body   string
		binary bool
		want   int
	}{
		{"accepted", "ok", `{}`, true, http.StatusAccepted},
		{"structured mode", "", `{"specversion":"1.0","id":"s1","type":"ok","source":"t","data":{}}`, false, http.StatusAccepted},
		{"handler says 400", "bad", `{}`, true, http.StatusBadRequest},
		{"handler says retry", "retry", `{}`, true, http.StatusServiceUnavailable},
		{"unclassified error is a 500", "plain-error", `{}`, true, http.StatusInternalServerError},
		{"not a CloudEvent", "", `hello`, false, http.StatusBadRequest},
		{"missing id", "", `{"specversion":"1.0","type":"ok","source":"t"}`, false, http.StatusBadRequest},
		{"over 1 MiB", "ok", `"` + strings.Repeat("x", MaxBodyBytes) + `"`, true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(t, h, tt.typ, tt.body, tt.binary)
			assert.Equal(t, tt.want, rec.Code, rec.Body.String())
		})
	}
	// Only the five valid events reached the function: neither the invalid
	// ones nor the oversized body did.
	assert.Len(t, f.handled, 5)
}

func TestReplyIsWrittenInBinaryMode(t *testing.T) {
	h := Handler(&fn{ready: true}, slog.New(slog.DiscardHandler))
	rec := post(t, h, "reply", `{}`, true)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "reply.type", rec.Header().Get("Ce-Type"))
	assert.Equal(t, "r1", rec.Header().Get("Ce-Id"))
}

func TestHealth(t *testing.T) {
	f := &fn{}
	h := Handler(f, slog.New(slog.DiscardHandler))
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	assert.Equal(t, http.StatusServiceUnavailable, get("/health/readiness"))
	assert.Equal(t, http.StatusOK, get("/health/liveness"))
	f.ready = true
	assert.Equal(t, http.StatusOK, get("/health/readiness"))
	assert.Equal(t, http.StatusMethodNotAllowed, get("/"))
}

func TestRunDrainsInFlightRequestsOnShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fn{ready: true, block: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, l, f, slog.New(slog.DiscardHandler), 10*time.Second) }()

	status := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+l.Addr().String()+"/", strings.NewReader(`{}`))
		req.Header.Set("ce-specversion", "1.0")
		req.Header.Set("ce-id", "1")
		req.Header.Set("ce-type", "slow")
		req.Header.Set("ce-source", "t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.handled) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel() // SIGTERM arrives while the event is in flight
	close(f.block)
	assert.Equal(t, http.StatusAccepted, <-status, "the in-flight event completes")
	require.NoError(t, <-done)
}
