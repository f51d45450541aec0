package keptnstandin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestResponseValidation shows that the documents really constrain the
// stand-in's answers: a well-formed reply passes, a malformed one does not.
func TestResponseValidation(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name    string
		method  string
		path    string
		rep     reply
		wantErr string
	}{
		{
			name: "resource 200", method: "GET", path: "/v1/project/p/resource/a",
			rep: jsonReply(200, resourceResponse{ResourceURI: "a", ResourceContent: "eA==", Metadata: version{Version: "c"}}),
		},
		{
			name: "resource 200 with a number for resourceURI", method: "GET", path: "/v1/project/p/resource/a",
			rep:     jsonReply(200, map[string]any{"resourceURI": 7}),
			wantErr: `"/resourceURI": value must be a string`,
		},
		{
			name: "resource 200 as text", method: "GET", path: "/v1/project/p/resource/a",
			rep:     plainReply(200, "x"),
			wantErr: "response header Content-Type has unexpected value",
		},
		{
			name: "resource 404 is not in the generated document", method: "GET", path: "/v1/project/p/resource/a",
			rep: keptnError(404, "Resource not found"),
		},
		{
			name: "list 200", method: "GET", path: "/v1/project/p/stage/s/resource",
			rep: jsonReply(200, resourcesResponse{NextPageKey: "0", Resources: []resourceResponse{{ResourceURI: "a"}}, TotalCount: 1}),
		},
		{
			name: "list 200 with resources as an object", method: "GET", path: "/v1/project/p/stage/s/resource",
			rep:     jsonReply(200, map[string]any{"resources": map[string]any{}}),
			wantErr: `"/resources": value must be an array`,
		},
		{
			name: "event 200", method: "POST", path: "/v1/event",
			rep: jsonReply(200, map[string]string{"keptnContext": "c"}),
		},
		{
			name: "event 200 without keptnContext", method: "POST", path: "/v1/event",
			rep:     jsonReply(200, map[string]string{}),
			wantErr: `property "keptnContext" is missing`,
		},
		{
			name: "event 400 without message", method: "POST", path: "/v1/event",
			rep:     jsonReply(400, map[string]int{"code": 400}),
			wantErr: `property "message" is missing`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			rt, err := parseRoute(r.URL.EscapedPath(), false)
			if err != nil {
				t.Fatal(err)
			}
			in, err := s.contract.input(r, rt)
			if err != nil {
				t.Fatal(err)
			}
			err = s.contract.validateResponse(r.Context(), in, tt.rep)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("a valid reply was refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// fakeTB records what CheckContract reports.
type fakeTB struct{ errs []string }

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Cleanup(func())                 {}
func (f *fakeTB) Errorf(format string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(format, a...)) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.Errorf(format, a...) }

func TestCheckContractFailsOnResponseViolations(t *testing.T) {
	s := newServer(t)
	r := httptest.NewRequest("GET", "/v1/project/p/resource", nil)
	s.recordViolation(sideRequest, r, 400, fmt.Errorf("the client's fault"))
	var tb fakeTB
	s.CheckContract(&tb)
	if len(tb.errs) != 0 {
		t.Fatalf("a request violation failed the test: %v", tb.errs)
	}
	s.recordViolation(sideResponse, r, 200, fmt.Errorf("the stand-in's fault"))
	s.CheckContract(&tb)
	if len(tb.errs) != 1 || !strings.Contains(tb.errs[0], "the stand-in's fault") {
		t.Fatalf("CheckContract reported %v, want the one response violation", tb.errs)
	}
	// Keep this test's own cleanup check quiet: the violation was staged.
	s.mu.Lock()
	s.violations = nil
	s.mu.Unlock()
}

func TestOpenAPIDirOption(t *testing.T) {
	if _, err := New(WithOpenAPIDir(t.TempDir())); err == nil || !strings.Contains(err.Error(), apiServiceDoc) {
		t.Fatalf("New with an empty OpenAPI dir: %v, want an error naming %s", err, apiServiceDoc)
	}
	dir, err := defaultOpenAPIDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(dir, "/shared/reference/keptn/openapi") {
		t.Errorf("default OpenAPI dir %s", dir)
	}
}

func TestNoContractViolationsInNormalUse(t *testing.T) {
	s := NewStarted(t)
	s.Commit(map[string][]byte{"project/p/resource/a": []byte("x")})
	for _, u := range []string{"/v1/project/p/resource/a", "/v1/project/p/resource", "/v1/project/p/resource/b"} {
		if r := get(t, s.URL()+u, ""); r.status >= 500 {
			t.Errorf("%s: %d", u, r.status)
		}
	}
	send(t, http.MethodPost, s.URL()+"/v1/event", s.Token(), "application/json", finished(nil))
	if v := s.ContractViolations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}
