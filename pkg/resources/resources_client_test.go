package resources

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "s3cr3t-t0ken"

// recorder is an httptest handler that remembers every request and answers
// with respond.
type recorder struct {
	mu       sync.Mutex
	requests []*http.Request
	respond  http.HandlerFunc
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.requests = append(rec.requests, r)
	rec.mu.Unlock()
	rec.respond(w, r)
}

func (rec *recorder) uris() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, r := range rec.requests {
		out = append(out, r.RequestURI)
	}
	return out
}

func resourceBody(uri, content, version string) string {
	b, _ := json.Marshal(map[string]any{
		"resourceURI":     uri,
		"resourceContent": base64.StdEncoding.EncodeToString([]byte(content)),
		"metadata":        map[string]string{"version": version, "upstreamURL": "https://git.example.com/p"},
	})
	return string(b)
}

func serve(t *testing.T, respond http.HandlerFunc) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{respond: respond}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func okResource(content string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, resourceBody("x", content, "c0ffee"))
	}
}

var svcScope = Scope{Project: "podtato", Stage: "dev", Service: "helloservice"}

func TestGetResourceEscapingAndCommit(t *testing.T) {
	tests := []struct {
		name     string
		basePath string
		opts     []ClientOption
		scope    Scope
		commit   string
		want     string
	}{
		{
			name:  "direct service level with commit",
			scope: svcScope, commit: "abc123",
			want: "/v1/project/podtato/stage/dev/service/helloservice/resource/job%2Fconfig.yaml?gitCommitID=abc123",
		},
		{
			name:  "direct stage level without commit",
			scope: Scope{Project: "podtato", Stage: "dev"},
			want:  "/v1/project/podtato/stage/dev/resource/job%2Fconfig.yaml",
		},
		{
			name:  "direct project level",
			scope: Scope{Project: "podtato"},
			want:  "/v1/project/podtato/resource/job%2Fconfig.yaml",
		},
		{
			name:     "gateway auto-detected, escaped twice",
			basePath: "/api/resource-service",
			scope:    svcScope, commit: "abc123",
			want: "/api/resource-service/v1/project/podtato/stage/dev/service/helloservice/resource/job%252Fconfig.yaml?gitCommitID=abc123",
		},
		{
			name:     "gateway path with trailing slash",
			basePath: "/api/resource-service/",
			scope:    Scope{Project: "podtato"},
			want:     "/api/resource-service/v1/project/podtato/resource/job%252Fconfig.yaml",
		},
		{
			name:     "explicit direct overrides the suffix",
			basePath: "/resource-service",
			opts:     []ClientOption{WithEscaping(EscapeDirect)},
			scope:    Scope{Project: "podtato"},
			want:     "/resource-service/v1/project/podtato/resource/job%2Fconfig.yaml",
		},
		{
			name:  "explicit gateway on a plain base",
			opts:  []ClientOption{WithEscaping(EscapeGateway)},
			scope: Scope{Project: "podtato"},
			want:  "/v1/project/podtato/resource/job%252Fconfig.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := serve(t, okResource("hello"))
			c, err := NewResourceClient(srv.URL+tt.basePath, append(tt.opts, WithToken(testToken))...)
			require.NoError(t, err)
			r, err := c.GetResource(context.Background(), tt.scope, "/job/config.yaml", tt.commit)
			require.NoError(t, err)
			assert.Equal(t, &Resource{URI: "job/config.yaml", Content: []byte("hello"), Version: "c0ffee"}, r)
			assert.Equal(t, []string{tt.want}, rec.uris())
			assert.Equal(t, testToken, rec.requests[0].Header.Get("x-token"))
		})
	}
}

func TestGetResourceNoTokenNoHeader(t *testing.T) {
	rec, srv := serve(t, okResource(""))
	c, err := NewResourceClient(srv.URL)
	require.NoError(t, err)
	r, err := c.GetResource(context.Background(), svcScope, "empty.txt", "")
	require.NoError(t, err)
	assert.Empty(t, r.Content)
	_, sent := rec.requests[0].Header["X-Token"]
	assert.False(t, sent, "x-token must not be sent when no token is configured")
}

func TestGetResourceErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		notFound  bool
		auth      bool
		retryable bool
		wantMsg   string
	}{
		{name: "404", status: 404, body: `{"code":404,"message":"Resource not found"}`, notFound: true, wantMsg: "Resource not found"},
		{name: "404 service", status: 404, body: `{"code":404,"message":"Service not found"}`, notFound: true, wantMsg: "Service not found"},
		{name: "401", status: 401, body: `{"code":401,"message":"incorrect api key auth"}`, auth: true, wantMsg: "HTTP 401"},
		{name: "403", status: 403, body: `forbidden`, auth: true, wantMsg: "HTTP 403"},
		{name: "500", status: 500, body: `{"code":500,"message":"git pull failed"}`, retryable: true, wantMsg: "git pull failed"},
		{name: "502 plain", status: 502, body: `<html>bad gateway</html>`, retryable: true, wantMsg: "HTTP 502"},
		{name: "503", status: 503, retryable: true, wantMsg: "no message"},
		{name: "429", status: 429, retryable: true, wantMsg: "HTTP 429"},
		{name: "408", status: 408, retryable: true, wantMsg: "HTTP 408"},
		{name: "400", status: 400, body: `{"code":400,"message":"Invalid resource URI"}`, wantMsg: "Invalid resource URI"},
		{name: "424", status: 424, body: `{"code":424,"message":"invalid git token"}`, wantMsg: "HTTP 424"},
		{name: "token echoed by a proxy is redacted", status: 401, body: `{"message":"bad token ` + testToken + `"}`, auth: true, wantMsg: "[redacted]"},
		{name: "200 not json", status: 200, body: `<html>`, wantMsg: "not the expected JSON"},
		{name: "200 bad base64", status: 200, body: `{"resourceContent":"%%%"}`, wantMsg: "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			c, err := NewResourceClient(srv.URL, WithToken(testToken))
			require.NoError(t, err)
			_, err = c.GetResource(context.Background(), svcScope, "job/config.yaml", "abc")
			require.Error(t, err)
			assert.Equal(t, tt.notFound, errors.Is(err, ErrNotFound), "ErrNotFound: %v", err)
			assert.Equal(t, tt.auth, IsAuthError(err), "AuthError: %v", err)
			assert.Equal(t, tt.retryable, !permanent.Is(err), "retryable: %v", err)
			if !tt.notFound && !tt.auth && !tt.retryable {
				var se *StatusError
				assert.ErrorAs(t, err, &se)
			}
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.Contains(t, err.Error(), `"job/config.yaml"`, "error names the resource")
			assert.Contains(t, err.Error(), `service "helloservice"`, "error names the scope")
			assert.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestGetResourceTransportErrorsAreRetryable(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		c, err := NewResourceClient("http://" + addr)
		require.NoError(t, err)
		_, err = c.GetResource(context.Background(), svcScope, "a", "")
		assert.False(t, permanent.Is(err), "%v", err)
		assert.False(t, errors.Is(err, ErrNotFound))
	})
	t.Run("per-request timeout", func(t *testing.T) {
		release := make(chan struct{})
		_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		c, err := NewResourceClient(srv.URL, WithTimeout(20*time.Millisecond))
		require.NoError(t, err)
		_, err = c.GetResource(context.Background(), svcScope, "a", "")
		assert.False(t, permanent.Is(err), "%v", err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestGetResourceRefusesUnsafeURIBeforeSending(t *testing.T) {
	rec, srv := serve(t, okResource("x"))
	c, err := NewResourceClient(srv.URL)
	require.NoError(t, err)
	for _, uri := range []string{"../secret", "a/../../b", "//etc/passwd", ""} {
		_, err := c.GetResource(context.Background(), svcScope, uri, "")
		assert.ErrorIs(t, err, ErrInvalidURI, uri)
	}
	_, err = c.GetResource(context.Background(), Scope{Project: "../p"}, "a", "")
	assert.ErrorIs(t, err, ErrInvalidScope)
	assert.Empty(t, rec.uris())
}

func TestGetResourceRefusesRedirects(t *testing.T) {
	targetHit := make(chan string, 1)
	_, target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		targetHit <- r.Header.Get("x-token")
	})
	_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal", http.StatusFound)
	})
	c, err := NewResourceClient(srv.URL, WithToken(testToken))
	require.NoError(t, err)
	_, err = c.GetResource(context.Background(), svcScope, "a", "")
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusFound, se.StatusCode)
	select {
	case tok := <-targetHit:
		t.Fatalf("redirect was followed (token sent: %v)", tok != "")
	default:
	}
}

func TestGetResourceResponseBound(t *testing.T) {
	_, srv := serve(t, okResource(strings.Repeat("x", 3000)))
	c, err := NewResourceClient(srv.URL, WithMaxResponseBytes(1024))
	require.NoError(t, err)
	_, err = c.GetResource(context.Background(), svcScope, "big", "")
	assert.ErrorContains(t, err, "response larger than 1024 bytes")
	assert.True(t, permanent.Is(err))
}

func TestListResourcesPagination(t *testing.T) {
	pages := map[string]string{
		"":   `{"nextPageKey":"p2","resources":[{"resourceURI":"/helm/Chart.yaml"},{"resourceURI":"/job/config.yaml"}]}`,
		"p2": `{"nextPageKey":"p3","resources":[{"resourceURI":"/helm/templates/a.yaml"}]}`,
		"p3": `{"nextPageKey":"0","resources":[{"resourceURI":"plain.txt"}]}`,
	}
	rec, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, pages[r.URL.Query().Get("nextPageKey")])
	})
	c, err := NewResourceClient(srv.URL+"/api/resource-service", WithToken(testToken))
	require.NoError(t, err)
	got, err := c.ListResources(context.Background(), svcScope, "abc")
	require.NoError(t, err)
	assert.Equal(t, []string{"helm/Chart.yaml", "job/config.yaml", "helm/templates/a.yaml", "plain.txt"}, got)
	base := "/api/resource-service/v1/project/podtato/stage/dev/service/helloservice/resource"
	assert.Equal(t, []string{
		base + "?gitCommitID=abc",
		base + "?gitCommitID=abc&nextPageKey=p2",
		base + "?gitCommitID=abc&nextPageKey=p3",
	}, rec.uris())
}

func TestListResourcesErrors(t *testing.T) {
	t.Run("repeating page key", func(t *testing.T) {
		_, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"nextPageKey":"same","resources":[]}`)
		})
		c, err := NewResourceClient(srv.URL)
		require.NoError(t, err)
		_, err = c.ListResources(context.Background(), Scope{Project: "p"}, "")
		assert.ErrorContains(t, err, `nextPageKey "same" repeats`)
	})
	t.Run("unknown service", func(t *testing.T) {
		rec, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":404,"message":"Service not found"}`)
		})
		c, err := NewResourceClient(srv.URL)
		require.NoError(t, err)
		_, err = c.ListResources(context.Background(), svcScope, "")
		assert.ErrorIs(t, err, ErrNotFound)
		assert.Equal(t, []string{"/v1/project/podtato/stage/dev/service/helloservice/resource"}, rec.uris())
	})
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(okResource("over tls"))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	defaultTLS := http.DefaultTransport.(*http.Transport).TLSClientConfig

	t.Run("refused without the CA", func(t *testing.T) {
		c, err := NewResourceClient(srv.URL)
		require.NoError(t, err)
		_, err = c.GetResource(context.Background(), svcScope, "a", "")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "TLS")
		assert.True(t, permanent.Is(err), "a certificate problem does not heal by retrying")
	})
	t.Run("accepted with the CA", func(t *testing.T) {
		c, err := NewResourceClient(srv.URL, WithCAPEM(caPEM))
		require.NoError(t, err)
		r, err := c.GetResource(context.Background(), svcScope, "a", "")
		require.NoError(t, err)
		assert.Equal(t, "over tls", string(r.Content))
	})
	t.Run("accepted with a CA file", func(t *testing.T) {
		f := t.TempDir() + "/ca.pem"
		require.NoError(t, writeFile(f, caPEM))
		c, err := NewResourceClient(srv.URL, WithCAFile(f))
		require.NoError(t, err)
		_, err = c.GetResource(context.Background(), svcScope, "a", "")
		require.NoError(t, err)
	})
	t.Run("explicit insecure opt-out", func(t *testing.T) {
		c, err := NewResourceClient(srv.URL, WithInsecureSkipVerify())
		require.NoError(t, err)
		_, err = c.GetResource(context.Background(), svcScope, "a", "")
		require.NoError(t, err)
	})
	t.Run("a custom CA replaces the system roots", func(t *testing.T) {
		other := httptest.NewTLSServer(okResource("x"))
		defer other.Close()
		// httptest servers share one certificate; a foreign PEM must not
		// verify it.
		foreign := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: foreignCertDER(t)})
		c, err := NewResourceClient(srv.URL, WithCAPEM(foreign))
		require.NoError(t, err)
		_, err = c.GetResource(context.Background(), svcScope, "a", "")
		assert.ErrorContains(t, err, "TLS")
	})
	assert.Same(t, defaultTLS, http.DefaultTransport.(*http.Transport).TLSClientConfig,
		"the process-wide default transport must stay untouched")
}

func TestNewResourceClientRejects(t *testing.T) {
	tests := []struct {
		name, base string
		opts       []ClientOption
		wantErr    string
	}{
		{name: "scheme", base: "ftp://keptn", wantErr: `scheme "ftp"`},
		{name: "no host", base: "http:///x", wantErr: "no host"},
		{name: "credentials", base: "https://user:" + testToken + "@keptn/api", wantErr: "must not carry credentials"},
		{name: "query", base: "https://keptn/api?x=1", wantErr: "query"},
		{name: "CA and insecure", base: "https://keptn", opts: []ClientOption{WithCAPEM([]byte("x")), WithInsecureSkipVerify()}, wantErr: "contradict"},
		{name: "TLS with own client", base: "https://keptn", opts: []ClientOption{WithInsecureSkipVerify(), WithHTTPClient(&http.Client{})}, wantErr: "cannot be combined"},
		{name: "bad PEM", base: "https://keptn", opts: []ClientOption{WithCAPEM([]byte("not pem"))}, wantErr: "no PEM certificate"},
		{name: "missing CA file", base: "https://keptn", opts: []ClientOption{WithCAFile("/nonexistent/ca.pem")}, wantErr: "reading Keptn CA file"},
		{name: "token with newline", base: "https://keptn", opts: []ClientOption{WithToken(testToken + "\n")}, wantErr: "control characters"},
		{name: "zero timeout", base: "https://keptn", opts: []ClientOption{WithTimeout(0)}, wantErr: "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewResourceClient(tt.base, tt.opts...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestClientStringHidesToken(t *testing.T) {
	c, err := NewResourceClient("https://keptn.example.com/api/resource-service", WithToken(testToken))
	require.NoError(t, err)
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		assert.NotContains(t, s, testToken)
	}
	assert.Equal(t, EscapeGateway, c.Escaping())
}

func TestWithHTTPClientGetsNoRedirectPolicy(t *testing.T) {
	hc := &http.Client{}
	c, err := NewResourceClient("http://keptn", WithHTTPClient(hc))
	require.NoError(t, err)
	assert.NotNil(t, c.hc.CheckRedirect)
	assert.Nil(t, hc.CheckRedirect, "the caller's client is not modified")
}
