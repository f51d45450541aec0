package telemetry

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, path, verb, resource string
	}{
		{"POST", "/apis/batch/v1/namespaces/ns/jobs", "create", "jobs.batch"},
		{"GET", "/apis/batch/v1/namespaces/ns/jobs/j1", "get", "jobs.batch"},
		{"PUT", "/apis/batch/v1/namespaces/ns/jobs/j1", "update", "jobs.batch"},
		{"PATCH", "/apis/batch/v1/namespaces/ns/jobs/j1", "patch", "jobs.batch"},
		{"DELETE", "/apis/batch/v1/namespaces/ns/jobs/j1", "delete", "jobs.batch"},
		{"DELETE", "/apis/batch/v1/namespaces/ns/jobs", "deletecollection", "jobs.batch"},
		{"GET", "/apis/batch/v1/namespaces/ns/jobs?labelSelector=a%3Db&limit=500", "list", "jobs.batch"},
		{"GET", "/apis/batch/v1/jobs", "list", "jobs.batch"},
		{"GET", "/apis/batch/v1/namespaces/ns/jobs?watch=true", "watch", "jobs.batch"},
		{"GET", "/api/v1/watch/namespaces/ns/pods", "watch", "pods"},
		{"GET", "/api/v1/namespaces/ns/pods", "list", "pods"},
		{"GET", "/api/v1/namespaces/ns/pods/p1/log", "get", "pods/log"},
		{"PUT", "/apis/batch/v1/namespaces/ns/jobs/j1/status", "update", "jobs/status.batch"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/ns/events", "create", "events.events.k8s.io"},
		{"GET", "/api/v1/namespaces", "list", "namespaces"},
		{"GET", "/api/v1/namespaces/ns", "get", "namespaces"},
		{"PUT", "/api/v1/namespaces/ns/finalize", "update", "namespaces/finalize"},
		{"GET", "/api/v1/nodes/n1", "get", "nodes"},
		{"GET", "/api/v1/namespaces/ns/secrets/s1", "get", "secrets"},
		{"GET", "/version", "list", "nonresource"},
		{"GET", "/apis", "list", "nonresource"},
		{"GET", "/api/v1", "list", "nonresource"},
		{"OPTIONS", "/api/v1/pods", "options", "pods"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.path)
		require.NoError(t, err)
		verb, resource := Classify(tt.method, u)
		assert.Equal(t, tt.verb, verb, "%s %s", tt.method, tt.path)
		assert.Equal(t, tt.resource, resource, "%s %s", tt.method, tt.path)
	}
	verb, resource := Classify("GET", nil)
	assert.Equal(t, "list", verb)
	assert.Equal(t, "nonresource", resource)
}

func FuzzClassify(f *testing.F) {
	for _, p := range []string{"/apis/batch/v1/namespaces/ns/jobs/j", "/api/v1/namespaces/ns/pods/p/log", "/", "//", "/apis//", "/api/v1/watch"} {
		f.Add("GET", p)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		verb, resource := Classify(method, &url.URL{Path: path})
		if resource == "" {
			t.Fatalf("%s %q: empty resource", method, path)
		}
		if verb == "" && method != "" {
			t.Fatalf("%s %q: empty verb", method, path)
		}
	})
}

func TestTransportCountsRequests(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer api.Close()
	m, err := NewMetrics()
	require.NoError(t, err)
	client := &http.Client{Transport: m.Transport(http.DefaultTransport)}
	do := func(method, path string) {
		req, err := http.NewRequest(method, api.URL+path, strings.NewReader("{}"))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	do("POST", "/apis/batch/v1/namespaces/ns/jobs")
	do("POST", "/apis/batch/v1/namespaces/ns/jobs")
	do("PUT", "/apis/batch/v1/namespaces/ns/jobs/j1")
	// A server that is gone is counted as an error.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err = client.Get(dead.URL + "/api/v1/namespaces/ns/pods") //nolint:bodyclose // the server is gone: there is no body
	require.Error(t, err)

	ss := scrape(t, m)
	assert.Equal(t, float64(2), ss.Sum(MetricKubeRequests, "verb", "create", "resource", "jobs.batch", "code", "201"))
	assert.Equal(t, float64(1), ss.Sum(MetricKubeRequests, "verb", "update", "resource", "jobs.batch", "code", "409"))
	assert.Equal(t, float64(1), ss.Sum(MetricKubeRequests, "verb", "list", "resource", "pods", "code", "error"))
	var nilMetrics *Metrics
	assert.Same(t, http.DefaultTransport, nilMetrics.Transport(http.DefaultTransport))
}
