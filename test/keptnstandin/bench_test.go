package keptnstandin

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The cost of one answer, OpenAPI checks of request and response included.

func BenchmarkGetResource(b *testing.B) {
	s, err := New()
	if err != nil {
		b.Fatal(err)
	}
	s.Commit(map[string][]byte{"project/p/stage/dev/service/carts/resource/job/config.yaml": bytes.Repeat([]byte("x"), 2048)})
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/project/p/stage/dev/service/carts/resource/job%2Fconfig.yaml", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkPostEvent(b *testing.B) {
	s, err := New()
	if err != nil {
		b.Fatal(err)
	}
	body := finished(nil)
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/event", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-token", DefaultToken)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
