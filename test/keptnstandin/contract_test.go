package keptnstandin

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestResponseValidation shows that the document really constrains the
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
			name: "resource 200 with a field the document does not have", method: "GET", path: "/v1/project/p/resource/a",
			rep:     jsonReply(200, map[string]any{"resourceURI": "a", "sha": "c"}),
			wantErr: `property "sha" is unsupported`,
		},
		{
			name: "resource 404", method: "GET", path: "/v1/project/p/resource/a",
			rep: keptnError(404, "Resource not found"),
		},
		{
			name: "resource 400 as text, as net/http answers a malformed path", method: "GET", path: "/v1/project/p/resource/a",
			rep: plainReply(400, "400 Bad Request"),
		},
		{
			name: "a status Keptn does not answer", method: "GET", path: "/v1/project/p/resource/a",
			rep:     keptnError(418, "teapot"),
			wantErr: "status is not supported",
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
	r := httptest.NewRequest(http.MethodGet, "/v1/project/p/resource", nil)
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

// TestContractDocument checks the embedded document: it is valid OpenAPI 3,
// and it holds exactly the operations the stand-in routes, no more.
func TestContractDocument(t *testing.T) {
	c, err := embeddedContract()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		KeyEvent: true, KeyProjectResource: true, KeyStageResource: true, KeyServiceResource: true,
		KeyProjectResources: true, KeyStageResources: true, KeyServiceResources: true,
	}
	got := map[string]bool{}
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			got[method+" "+path] = true
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("the document's operations %v, want the stand-in's routes %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	if _, err := loadContract([]byte("openapi: 3.0.3\npaths: {}\n")); err == nil {
		t.Error("a document without info was accepted")
	}
}

// TestRequestViolations sends requests the contract forbids, each of which
// must be recorded as a request violation, and requests it allows, which
// must leave none.
func TestRequestViolations(t *testing.T) {
	tests := []struct {
		name          string
		gateway       bool
		method, path  string
		token         string // "-" sends none
		body          []byte
		wantStatus    int
		wantViolation string // part of the violation; "" for a request the contract allows
	}{
		{name: "valid finished", method: "POST", path: "/v1/event", body: finished(nil), wantStatus: 200},
		{
			name: "valid started with shkeptnspecversion, as go-utils sends it", method: "POST", path: "/v1/event", wantStatus: 200,
			body: finished(func(e, d map[string]any) {
				e["type"], e["shkeptnspecversion"], e["contenttype"], e["time"] = "sh.keptn.event.test.started", "0.2.4", "application/json", "2024-03-11T14:02:07.903Z"
				delete(d, "status")
				delete(d, "result")
			}),
		},
		{
			name: "test data beside the common fields", method: "POST", path: "/v1/event", wantStatus: 200,
			body: finished(func(_, d map[string]any) {
				d["test"] = map[string]any{"start": "2024-03-11T14:02:08Z", "end": "2024-03-11T14:04:50Z", "gitCommit": "9d2c41f0"}
				d["run-locust"] = map[string]any{"rps": 19.98}
			}),
		},
		{name: "GET a resource", method: "GET", path: "/v1/project/p/resource/a.yaml", wantStatus: 200},
		{name: "GET a listing", method: "GET", path: "/v1/project/p/resource?pageSize=5&nextPageKey=0", wantStatus: 200},
		{name: "GET a resource through the gateway", gateway: true, method: "GET", path: "/api/resource-service/v1/project/p/resource/a.yaml", wantStatus: 200},

		{name: "event without x-token", method: "POST", path: "/v1/event", token: "-", body: finished(nil), wantStatus: 401, wantViolation: "no x-token header"},
		{name: "resource without x-token at the gateway", gateway: true, method: "GET", path: "/api/resource-service/v1/project/p/resource/a.yaml", token: "-", wantStatus: 401, wantViolation: "no x-token header"},
		{name: "a path the contract does not have", method: "GET", path: "/v1/project/p/resources", wantStatus: 404, wantViolation: "no route"},
		{name: "data not an object", method: "POST", path: "/v1/event", body: finished(func(e, _ map[string]any) { e["data"] = []string{"done"} }), wantStatus: 400, wantViolation: `"/data": value must be an object`},
		{name: "time not a date-time", method: "POST", path: "/v1/event", body: finished(func(e, _ map[string]any) { e["time"] = "yesterday" }), wantStatus: 400, wantViolation: `"/time"`},
		{name: "triggeredid a number", method: "POST", path: "/v1/event", body: finished(func(e, _ map[string]any) { e["triggeredid"] = 7 }), wantStatus: 400, wantViolation: `"/triggeredid": value must be a string`},
		{name: "pageSize not an integer", method: "GET", path: "/v1/project/p/resource?pageSize=ten", wantStatus: 400, wantViolation: `parameter "pageSize"`},
		{
			name: "an envelope field go-utils does not have (Keptn drops it)", method: "POST", path: "/v1/event", wantStatus: 400,
			body: finished(func(e, _ map[string]any) {
				e["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			}),
			wantViolation: `go-utils models.KeptnContextExtendedCE cannot hold the event: json: unknown field "traceparent"`,
		},
		{
			name: "the api-service's shkeptnversion, which go-utils cannot hold", method: "POST", path: "/v1/event", wantStatus: 400,
			body:          finished(func(e, _ map[string]any) { e["shkeptnversion"] = "0.2.4" }),
			wantViolation: `unknown field "shkeptnversion"`,
		},
		{
			name: "a label go-utils' EventData cannot hold", method: "POST", path: "/v1/event", wantStatus: 400,
			body:          finished(func(_, d map[string]any) { d["labels"] = map[string]any{"buildId": 7} }),
			wantViolation: "go-utils v0_2_0.TestFinishedEventData cannot hold the data of sh.keptn.event.test.finished",
		},
		{
			name: "test.start go-utils' TestFinishedEventData cannot hold", method: "POST", path: "/v1/event", wantStatus: 400,
			body:          finished(func(_, d map[string]any) { d["test"] = map[string]any{"start": 1710165728} }),
			wantViolation: "v0_2_0.TestFinishedEventData cannot hold the data of sh.keptn.event.test.finished: json: cannot unmarshal number into Go struct field TestFinishedDetails.test.start of type string",
		},
		{
			name: "status a bool in sh.keptn.log.error", method: "POST", path: "/v1/event", wantStatus: 400,
			body: finished(func(e, d map[string]any) {
				e["type"] = "sh.keptn.log.error"
				d["task"] = true
			}),
			wantViolation: "v0_2_0.ErrorLogEvent cannot hold the data",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStarted(t, WithGateway(tt.gateway))
			s.Commit(map[string][]byte{"project/p/resource/a.yaml": []byte("x")})
			token := s.Token()
			if tt.token == "-" {
				token = ""
			}
			ct := ""
			if tt.body != nil {
				ct = "application/json"
			}
			r := send(t, tt.method, s.URL()+tt.path, token, ct, tt.body)
			if r.status != tt.wantStatus {
				t.Errorf("status %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			var req []Violation
			for _, v := range s.ContractViolations() {
				if v.Side != sideRequest {
					t.Errorf("the stand-in broke the contract: %v", v)
					continue
				}
				req = append(req, v)
			}
			switch {
			case tt.wantViolation == "" && len(req) != 0:
				t.Errorf("an allowed request was recorded as a violation: %v", req)
			case tt.wantViolation != "" && (len(req) != 1 || !strings.Contains(req[0].Err, tt.wantViolation)):
				t.Errorf("violations %v, want one containing %q", req, tt.wantViolation)
			}
		})
	}
}

// TestCheckResponseWire shows that go-utils' types refuse answers the
// stand-in must never give.
func TestCheckResponseWire(t *testing.T) {
	get := route{op: opGetResource}
	list := route{op: opListResources}
	event := route{op: opPostEvent}
	tests := []struct {
		name    string
		rt      route
		rep     reply
		wantErr string
	}{
		{"resource", get, jsonReply(200, resourceResponse{ResourceURI: "job%2Fconfig.yaml", ResourceContent: "eA==", Metadata: version{UpstreamURL: "u", Version: "c"}}), ""},
		{"resource with an unknown field", get, jsonReply(200, map[string]any{"resourceURI": "a", "commit": "c"}), `go-utils models.Resource cannot hold the answer: json: unknown field "commit"`},
		{"resource without resourceURI", get, jsonReply(200, map[string]any{"resourceContent": "eA=="}), "resourceURI is missing"},
		{"resource content not base64", get, jsonReply(200, map[string]any{"resourceURI": "a", "resourceContent": "not base64!"}), "resourceContent is not base64"},
		{"resource metadata.version a number", get, jsonReply(200, map[string]any{"resourceURI": "a", "metadata": map[string]any{"version": 1}}), "cannot unmarshal number"},
		{"resource as text", get, plainReply(200, "x"), "go-utils models.Resource cannot hold the answer"},
		{"listing", list, jsonReply(200, resourcesResponse{NextPageKey: "0", Resources: []resourceResponse{{ResourceURI: "a"}}, TotalCount: 1}), ""},
		{"listing without resources", list, jsonReply(200, map[string]any{"nextPageKey": "0"}), "resources is missing"},
		{"listing with a null resource", list, jsonReply(200, map[string]any{"resources": []any{nil}}), "resources[0].null"},
		{"listing with totalCount a string", list, jsonReply(200, map[string]any{"resources": []any{}, "totalCount": "1"}), "cannot unmarshal string"},
		{"event context", event, jsonReply(200, map[string]string{"keptnContext": "c"}), ""},
		{"event context empty", event, jsonReply(200, map[string]string{"keptnContext": ""}), "keptnContext is missing"},
		{"error", get, keptnError(404, "Resource not found"), ""},
		{"error without message", event, jsonReply(400, map[string]int{"code": 400}), "message is missing"},
		{"error with an unknown field", event, jsonReply(400, map[string]any{"code": 400, "message": "m", "fields": "x"}), `unknown field "fields"`},
		{"plain-text error", get, plainReply(404, "404 page not found"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkResponseWire(tt.rt, tt.rep)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("a valid answer was refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestCheckEventWire covers the envelope and data rules of wire.go one by one.
func TestCheckEventWire(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"finished", string(finished(nil)), ""},
		{"unknown data fields are kept by Keptn and allowed", string(finished(func(_, d map[string]any) { d["anything"] = []int{1} })), ""},
		{"a task go-utils has no type for", string(finished(func(e, _ map[string]any) { e["type"] = "sh.keptn.event.e2e-load.finished" })), ""},
		{"deployment.finished data", string(finished(func(e, d map[string]any) {
			e["type"] = "sh.keptn.event.deployment.finished"
			d["deployment"] = map[string]any{"deploymentNames": "direct"}
		})), "v0_2_0.DeploymentFinishedEventData cannot hold"},
		{"evaluation.started with a wrong label", string(finished(func(e, d map[string]any) {
			e["type"] = "sh.keptn.event.evaluation.started"
			d["labels"] = []string{"x"}
		})), "v0_2_0.EvaluationStartedEventData cannot hold"},
		{"sequence triggered", `{"type":"sh.keptn.event.dev.delivery.triggered","source":"cli","data":{"project":"p","stage":"dev","service":"s"}}`, ""},
		{"no source", `{"type":"sh.keptn.log.error","data":{}}`, "type and source must be set"},
		{"data after the object", string(finished(nil)) + ` {}`, "data after the JSON value"},
		{"datacontenttype", `{"type":"sh.keptn.log.error","source":"s","datacontenttype":"application/json","data":{}}`, `unknown field "datacontenttype"`},
		{"time not RFC 3339", `{"type":"sh.keptn.log.error","source":"s","time":"11.03.2024","data":{}}`, "cannot hold the event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkEventWire([]byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("a valid event was refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
