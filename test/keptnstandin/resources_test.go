package keptnstandin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const jobConfig = "job/config.yaml"

// TestResourceAtCommit reads job/config.yaml at each level, at an old commit,
// at the newest one and without gitCommitID.
func TestResourceAtCommit(t *testing.T) {
	s := NewStarted(t)
	files := map[string][]byte{
		"project/p/resource/job/config.yaml":                         []byte("project v1"),
		"project/p/stage/dev/resource/job/config.yaml":               []byte("stage v1"),
		"project/p/stage/dev/service/carts/resource/job/config.yaml": []byte("service v1"),
	}
	c1 := s.Commit(files)
	files["project/p/stage/dev/service/carts/resource/job/config.yaml"] = []byte("service v2")
	delete(files, "project/p/stage/dev/resource/job/config.yaml")
	files["project/p/stage/dev/resource/other.yaml"] = []byte("keeps the stage")
	c2 := s.Commit(files)

	tests := []struct {
		name           string
		stage, service string
		commit         string
		wantContent    string
		wantVersion    string
		wantStatus     int
	}{
		{name: "service at c1", stage: "dev", service: "carts", commit: c1, wantContent: "service v1", wantVersion: c1},
		{name: "service at c2", stage: "dev", service: "carts", commit: c2, wantContent: "service v2", wantVersion: c2},
		{name: "service at head", stage: "dev", service: "carts", wantContent: "service v2", wantVersion: c2},
		{name: "stage at c1", stage: "dev", commit: c1, wantContent: "stage v1", wantVersion: c1},
		{name: "stage at c2, where it was deleted", stage: "dev", commit: c2, wantStatus: http.StatusNotFound},
		{name: "project at c1", commit: c1, wantContent: "project v1", wantVersion: c1},
		{name: "project at head", wantContent: "project v1", wantVersion: c2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, resourceURL(s.URL(), "p", tt.stage, tt.service, jobConfig, tt.commit), "")
			if tt.wantStatus != 0 {
				assertKeptnError(t, r, tt.wantStatus, "Resource not found")
				return
			}
			got := decodeResource(t, r)
			want := resourceGot{uri: "job%2Fconfig.yaml", content: tt.wantContent, version: tt.wantVersion, upstream: s.opts.upstreamURL}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

// findJobConfig is the client side of the fallback, as JES does it: the
// service level and the stage level at the event's commit, then the project
// level without a commit. It reports the level that answered.
func findJobConfig(t *testing.T, base, project, stage, service, commit string) (content, level string) {
	t.Helper()
	steps := []struct{ level, stage, service, commit string }{
		{"service", stage, service, commit},
		{"stage", stage, "", commit},
		{"project", "", "", ""},
	}
	for _, st := range steps {
		r := get(t, resourceURL(base, project, st.stage, st.service, jobConfig, st.commit), "")
		if r.status == http.StatusNotFound {
			continue
		}
		return decodeResource(t, r).content, st.level
	}
	t.Fatalf("no %s for %s/%s/%s", jobConfig, project, stage, service)
	return "", ""
}

// TestFallbackServiceStageProject reads the lookup configs of
// testdata/layout through the fallback a client does; the stand-in itself
// never falls back.
func TestFallbackServiceStageProject(t *testing.T) {
	s := NewStarted(t)
	head, err := s.LoadDir("testdata/layout")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		stage, service string
		wantGreeting   string
		wantLevel      string
		wantGets       int
	}{
		{stage: "dev", service: "service-1", wantGreeting: "Hello from the service", wantLevel: "service", wantGets: 1},
		{stage: "dev", service: "carts", wantGreeting: "Hello from the stage", wantLevel: "stage", wantGets: 2},
		{stage: "dev", service: "no-such-service", wantGreeting: "Hello from the stage", wantLevel: "stage", wantGets: 2},
		{stage: "production", service: "carts", wantGreeting: "Hello from the project", wantLevel: "project", wantGets: 3},
		{stage: "no-such-stage", service: "carts", wantGreeting: "Hello from the project", wantLevel: "project", wantGets: 3},
	}
	for _, tt := range tests {
		t.Run(tt.stage+"/"+tt.service, func(t *testing.T) {
			before := totalResourceGets(s)
			content, level := findJobConfig(t, s.URL(), "sockshop", tt.stage, tt.service, head)
			if level != tt.wantLevel || !strings.Contains(content, tt.wantGreeting) {
				t.Errorf("got the %s level's config %q, want the %s level's with %q", level, content, tt.wantLevel, tt.wantGreeting)
			}
			if n := totalResourceGets(s) - before; n != tt.wantGets {
				t.Errorf("the fallback took %d GETs, want %d", n, tt.wantGets)
			}
		})
	}
}

func totalResourceGets(s *Server) int {
	return s.Requests(KeyServiceResource) + s.Requests(KeyStageResource) + s.Requests(KeyProjectResource)
}

func TestResourceEscaping(t *testing.T) {
	files := map[string][]byte{"project/p/stage/dev/service/carts/resource/job/config.yaml": []byte("cfg")}
	const (
		once  = "job%2Fconfig.yaml"
		twice = "job%252Fconfig.yaml"
		plain = "job/config.yaml"
	)
	tests := []struct {
		name       string
		gateway    bool
		uri        string
		wantStatus int
		wantBody   string // for errors
		wantURI    string // resourceURI echoed on success
	}{
		{name: "in-cluster, escaped once", uri: once, wantStatus: 200, wantURI: once},
		{name: "in-cluster, not escaped: no route", uri: plain, wantStatus: 404, wantBody: "404 page not found"},
		{name: "in-cluster, escaped twice: unescaped twice, echoed once", uri: twice, wantStatus: 200, wantURI: once},
		{name: "gateway, escaped twice", gateway: true, uri: twice, wantStatus: 200, wantURI: once},
		{name: "gateway, escaped once: nginx unescapes the slash", gateway: true, uri: once, wantStatus: 404, wantBody: "404 page not found"},
		{name: "gateway, escaped three times", gateway: true, uri: "job%25252Fconfig.yaml", wantStatus: 404, wantBody: `{"code":404,"message":"Resource not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStarted(t, WithGateway(tt.gateway))
			s.Commit(files)
			u := s.ResourceServiceURL() + levelPath("p", "dev", "carts") + "/" + tt.uri
			r := get(t, u, s.Token())
			if tt.wantStatus == 200 {
				if got := decodeResource(t, r); got.uri != tt.wantURI || got.content != "cfg" {
					t.Errorf("got %+v, want resourceURI %q and content cfg", got, tt.wantURI)
				}
				return
			}
			if r.status != tt.wantStatus || string(r.body) != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// A file whose name holds an escape: lit%41.txt, escaped correctly once
// (lit%2541.txt), is 404 when sent directly, because the resource-service
// unescapes it twice (litA.txt); through the gateway, escaped twice as
// gateway clients do, it is served (a Keptn bug, modelled as it is).
func TestResourceLiteralPercent(t *testing.T) {
	files := map[string][]byte{"project/p/resource/lit%41.txt": []byte("lit")}
	for _, tt := range []struct {
		name       string
		gateway    bool
		uri        string
		wantStatus int
	}{
		{"direct, escaped once", false, "lit%2541.txt", 404},
		{"gateway, escaped twice", true, "lit%252541.txt", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStarted(t, WithGateway(tt.gateway))
			s.Commit(files)
			r := get(t, s.ResourceServiceURL()+"/v1/project/p/resource/"+tt.uri, s.Token())
			if r.status != tt.wantStatus {
				t.Errorf("got %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
		})
	}
}

// Every level has a metadata.yaml in Keptn; a stage-level path
// "<service>/<file>" is that service's file.
func TestResourceMetadataAndStageServiceFiles(t *testing.T) {
	s := NewStarted(t)
	s.Commit(map[string][]byte{"project/p/stage/dev/service/orders/resource/x.yaml": []byte("orders")})
	for _, tt := range []struct{ path, want string }{
		{"/v1/project/p/resource/metadata.yaml", "projectname: p\n"},
		{"/v1/project/p/stage/dev/resource/metadata.yaml", "stagename: dev\n"},
		{"/v1/project/p/stage/dev/service/orders/resource/metadata.yaml", "servicename: orders\n"},
		{"/v1/project/p/stage/dev/resource/orders%2Fx.yaml", "orders"},
	} {
		if got := decodeResource(t, get(t, s.URL()+tt.path, "")); got.content != tt.want {
			t.Errorf("%s: %q, want %q", tt.path, got.content, tt.want)
		}
	}
}

func TestGatewayNeedsTokenForResources(t *testing.T) {
	s := NewStarted(t, WithGateway(true), WithToken("secret-for-test"), WithRateLimitWindow(300*time.Millisecond))
	s.Commit(map[string][]byte{"project/p/resource/a": []byte("x")})
	u := s.ResourceServiceURL() + "/v1/project/p/resource/a"
	// The gateway's exact bodies, and its rate limit: after two failed
	// authentications from this address even a valid request gets 429,
	// until the client has backed off.
	for _, tok := range []string{"", "wrong"} {
		if r := get(t, u, tok); r.status != 401 || string(r.body) != gateway401Body {
			t.Errorf("token %q: got %d %s, want 401 %s", tok, r.status, r.body, gateway401Body)
		}
	}
	if r := get(t, u, "secret-for-test"); r.status != 429 || string(r.body) != gatewayTooManyBody {
		t.Errorf("after two failed logins: got %d %s, want 429 %s", r.status, r.body, gatewayTooManyBody)
	}
	if s.TooManyRequests() != 1 {
		t.Errorf("TooManyRequests = %d, want 1", s.TooManyRequests())
	}
	time.Sleep(400 * time.Millisecond)
	if got := decodeResource(t, get(t, u, "secret-for-test")); got.content != "x" {
		t.Errorf("with the token: content %q, want x", got.content)
	}
	if r := get(t, s.URL()+"/v1/project/p/resource/a", "secret-for-test"); r.status != http.StatusNotFound {
		t.Errorf("in-cluster path in gateway mode: %d, want 404", r.status)
	}
}

func TestResourceErrors(t *testing.T) {
	s := NewStarted(t)
	head := s.Commit(map[string][]byte{
		"project/p/resource/a.yaml":                         []byte("project"),
		"project/p/stage/dev/service/carts/resource/b.yaml": []byte("service"),
	})
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantMsg    string
	}{
		{"unknown project", "/v1/project/nope/resource/a.yaml", 404, "Project not found"},
		{"unknown stage", "/v1/project/p/stage/prod/resource/a.yaml", 404, "Stage not found"},
		{"unknown service", "/v1/project/p/stage/dev/service/orders/resource/b.yaml", 404, "Service not found"},
		{"missing resource", "/v1/project/p/stage/dev/service/carts/resource/c.yaml", 404, "Resource not found"},
		{"no fallback to the project level", "/v1/project/p/stage/dev/service/carts/resource/a.yaml", 404, "Resource not found"},
		{"unknown project on a list", "/v1/project/nope/resource", 404, "Project not found"},
		{"dot-dot", "/v1/project/p/resource/..%2Fa.yaml", 400, "invalid resource uri"},
		{"tilde", "/v1/project/p/resource/~a.yaml", 400, "invalid resource uri"},
		{"escaped dot-dot", "/v1/project/p/resource/%2E%2E%2Fa.yaml", 400, "invalid resource uri"},
		{"unknown commit", "/v1/project/p/resource/a.yaml?gitCommitID=0123456789abcdef0123456789abcdef01234567", 500, "Internal server error"},
		{"bad pageSize", "/v1/project/p/resource?pageSize=ten", 400, `parameter "pageSize" in query has an error: value ten: an invalid integer: invalid syntax`},
		{"negative nextPageKey", "/v1/project/p/resource?nextPageKey=-1", 500, "Internal server error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertKeptnError(t, get(t, s.URL()+tt.path, ""), tt.wantStatus, tt.wantMsg)
		})
	}
	// Keptn reads a quoted empty gitCommitID as none.
	if got := decodeResource(t, get(t, s.URL()+`/v1/project/p/resource/a.yaml?gitCommitID=""`, "")); got.version != head {
		t.Errorf(`gitCommitID="" served version %q, want head %q`, got.version, head)
	}
	var sawPageSize bool
	for _, v := range s.ContractViolations() {
		sawPageSize = sawPageSize || (v.Side == sideRequest && strings.Contains(v.Err, "pageSize"))
	}
	if !sawPageSize {
		t.Errorf("a non-integer pageSize was not recorded as a request violation: %v", s.ContractViolations())
	}
}

func TestResourceWritesAreNotServed(t *testing.T) {
	s := NewStarted(t)
	r := send(t, http.MethodPut, s.URL()+"/v1/project/p/resource/a", "", "application/json", []byte(`{}`))
	assertKeptnError(t, r, http.StatusNotImplemented, "the Keptn stand-in serves resources read-only")
}

func TestListResourcesPaginates(t *testing.T) {
	s := NewStarted(t)
	files := map[string][]byte{}
	// job-x.yaml sorts before job/config.yaml as a string but after it in
	// Keptn's directory walk; .gitignore is skipped by Keptn's walk.
	for _, f := range []string{"job/config.yaml", "job-x.yaml", "locust/basic.py", "locust/locust.conf", "a.txt", ".gitignore"} {
		files["project/p/stage/dev/service/carts/resource/"+f] = []byte(f)
	}
	files["project/p/stage/dev/resource/stage-only.yaml"] = nil
	head := s.Commit(files)

	var got []string
	var keys []string
	next := ""
	for page := 0; page < 10; page++ {
		q := url.Values{"pageSize": {"2"}}
		if next != "" {
			q.Set("nextPageKey", next)
		}
		r := get(t, s.URL()+levelPath("p", "dev", "carts")+"?"+q.Encode(), "")
		var body struct {
			NextPageKey string  `json:"nextPageKey"`
			TotalCount  float64 `json:"totalCount"`
			Resources   []struct {
				ResourceURI string `json:"resourceURI"`
				Metadata    struct {
					Version string `json:"version"`
				} `json:"metadata"`
			} `json:"resources"`
		}
		if r.status != 200 || json.Unmarshal(r.body, &body) != nil {
			t.Fatalf("page %d: %d %s", page, r.status, r.body)
		}
		if body.TotalCount != 6 {
			t.Errorf("page %d: totalCount %v, want 6", page, body.TotalCount)
		}
		for _, res := range body.Resources {
			got = append(got, res.ResourceURI)
			if res.Metadata.Version != head {
				t.Errorf("%s: version %q, want head %q", res.ResourceURI, res.Metadata.Version, head)
			}
		}
		keys = append(keys, body.NextPageKey)
		next = body.NextPageKey
		if next == "0" {
			break
		}
	}
	wantURIs := []string{"a.txt", "job/config.yaml", "job-x.yaml", "locust/basic.py", "locust/locust.conf", "metadata.yaml"}
	if fmt.Sprint(got) != fmt.Sprint(wantURIs) {
		t.Errorf("listed %v, want %v", got, wantURIs)
	}
	if fmt.Sprint(keys) != fmt.Sprint([]string{"2", "4", "0"}) {
		t.Errorf("nextPageKeys %v, want [2 4 0]", keys)
	}

	// A stage is a branch in Keptn and its services are folders of it: the
	// stage's listing holds every service's files, and metadata.yaml at
	// every level.
	r := get(t, s.URL()+levelPath("p", "dev", ""), "")
	for _, want := range []string{"stage-only.yaml", "metadata.yaml", "carts/metadata.yaml", "carts/locust/basic.py"} {
		if r.status != 200 || !strings.Contains(string(r.body), `"resourceURI":"`+want+`"`) {
			t.Errorf("stage list: %d %s; want %s in it", r.status, r.body, want)
		}
	}
}
