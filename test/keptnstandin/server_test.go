package keptnstandin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSetDownAndCounters(t *testing.T) {
	s := NewStarted(t)
	s.Commit(map[string][]byte{"project/p/resource/a": []byte("x")})
	u := s.URL() + "/v1/project/p/resource/a"

	s.SetDown(true)
	for range 3 {
		if r := get(t, u, ""); r.status != http.StatusServiceUnavailable {
			t.Fatalf("down: %d %s, want 503", r.status, r.body)
		}
	}
	if r := send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/json", finished(nil)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("down event: %d, want 503", r.status)
	}
	if n := len(s.Events()); n != 0 {
		t.Fatalf("an event was recorded while down")
	}
	s.SetDown(false)
	if r := get(t, u, ""); r.status != http.StatusOK {
		t.Fatalf("up again: %d %s", r.status, r.body)
	}
	get(t, s.URL()+"/v1/nowhere", "")

	want := map[string]int{KeyProjectResource: 4, KeyEvent: 1, KeyUnmatched: 1}
	got := s.RequestCounts()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("Requests(%q) = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func TestSetHangUp(t *testing.T) {
	s := NewStarted(t)
	s.SetHangUp(true)
	resp, err := http.Get(s.URL() + "/v1/project/p/resource")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("hung up, yet got %s", resp.Status)
	}
	if n := s.Requests(KeyProjectResources); n != 1 {
		t.Errorf("Requests = %d, want the hung-up request counted", n)
	}
	s.SetHangUp(false)
	if r := get(t, s.URL()+"/v1/project/p/resource", ""); r.status != http.StatusNotFound {
		t.Errorf("after hang-up: %d, want 404 (no project)", r.status)
	}
}

func TestListenOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.168.1.1:0", "localhost:0"} {
		s := newServer(t, WithListen(addr))
		if err := s.Start(); err == nil || !strings.Contains(err.Error(), "loopback") {
			s.Close()
			t.Errorf("Start on %q: %v, want a loopback error", addr, err)
		}
	}
	s := NewStarted(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %s", s.URL())
	}
	if err := s.Start(); err == nil {
		t.Error("a second Start succeeded")
	}
	s.Close()
	s.Close() // safe twice
}

func TestUsableAsHandler(t *testing.T) {
	s := newServer(t)
	s.Commit(map[string][]byte{"project/p/resource/a": []byte("x")})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/project/p/resource/a", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"resourceContent":"eA=="`) {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/event", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/event: %d, want 405", rec.Code)
	}
}
