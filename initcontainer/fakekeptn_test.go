package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	testToken = "tok-3f9a1c"
	headRev   = "head"
)

// fakeKeptn is a minimal resource-service: revisions[commit][key] where key
// is "<level path>|<uri>" and level path is "p", "p/s" or "p/s/v". A GET
// without gitCommitID reads headRev; listing always reads headRev, as Keptn
// does. It serves both the direct and the gateway route (path prefix
// /api/resource-service, escaped twice).
type fakeKeptn struct {
	t         *testing.T
	mu        sync.Mutex
	revisions map[string]map[string]string
	listExtra map[string][]string // level path -> extra URIs to list verbatim
	failNext  int                 // answer 503 to this many requests first
	status    int                 // answer every request with this status
	requests  []string
	tokens    []string
	srv       *httptest.Server
}

func newFakeKeptn(t *testing.T) *fakeKeptn {
	f := &fakeKeptn{t: t, revisions: map[string]map[string]string{headRev: {}}, listExtra: map[string][]string{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeKeptnTLS serves HTTPS with httptest's own certificate.
func newFakeKeptnTLS(t *testing.T) *fakeKeptn {
	f := &fakeKeptn{t: t, revisions: map[string]map[string]string{headRev: {}}, listExtra: map[string][]string{}}
	f.srv = httptest.NewUnstartedServer(f)
	// The refused handshakes are the point of the TLS tests; keep them quiet.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeKeptn) put(commit, level, uri, content string) {
	if f.revisions[commit] == nil {
		f.revisions[commit] = map[string]string{}
	}
	f.revisions[commit][level+"|"+uri] = content
}

// snapshot makes commit a copy of the current head, as a git commit holds
// the whole tree.
func (f *fakeKeptn) snapshot(commit string) {
	f.revisions[commit] = map[string]string{}
	for k, v := range f.revisions[headRev] {
		f.revisions[commit][k] = v
	}
}

func (f *fakeKeptn) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeKeptn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.RequestURI)
	f.tokens = append(f.tokens, r.Header.Get("x-token"))
	if f.status != 0 {
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"code":%d,"message":"configured failure"}`, f.status)
		return
	}
	if f.failNext > 0 {
		f.failNext--
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"code":503,"message":"try again"}`)
		return
	}
	p := r.URL.EscapedPath()
	gateway := strings.HasPrefix(p, "/api/resource-service/")
	p = strings.TrimPrefix(p, "/api/resource-service")
	segs := strings.Split(strings.TrimPrefix(p, "/v1/"), "/")
	var level []string
	i := 0
	for _, kind := range []string{"project", "stage", "service"} {
		if i+1 < len(segs) && segs[i] == kind {
			level = append(level, segs[i+1])
			i += 2
		}
	}
	if len(level) == 0 || i >= len(segs) || segs[i] != "resource" {
		http.Error(w, "bad route "+p, http.StatusBadRequest)
		return
	}
	key := strings.Join(level, "/")
	switch rest := segs[i+1:]; len(rest) {
	case 0:
		f.list(w, key, r.URL.Query().Get("nextPageKey"))
	case 1:
		uri, err := decodeSegment(rest[0], gateway)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.get(w, key, uri, r.URL.Query().Get("gitCommitID"))
	default:
		// An unescaped "/" in the resource URI: Keptn's router has no
		// such route.
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":404,"message":"route not found"}`)
	}
}

func decodeSegment(seg string, gateway bool) (string, error) {
	if gateway {
		var err error
		if seg, err = url.PathUnescape(seg); err != nil {
			return "", err
		}
	}
	return url.QueryUnescape(seg)
}

func (f *fakeKeptn) get(w http.ResponseWriter, level, uri, commit string) {
	rev := commit
	if rev == "" {
		rev = headRev
	}
	content, ok := f.revisions[rev][level+"|"+uri]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"code":404,"message":"Resource not found"}`)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"resourceURI":     uri,
		"resourceContent": base64.StdEncoding.EncodeToString([]byte(content)),
		"metadata":        map[string]string{"version": rev},
	})
}

// list answers in pages of two to exercise nextPageKey.
func (f *fakeKeptn) list(w http.ResponseWriter, level, pageKey string) {
	var uris []string
	for k := range f.revisions[headRev] {
		if l, uri, _ := strings.Cut(k, "|"); l == level {
			uris = append(uris, "/"+uri)
		}
	}
	sort.Strings(uris)
	uris = append(uris, f.listExtra[level]...)
	type item struct {
		ResourceURI string `json:"resourceURI"`
	}
	resp := struct {
		Resources   []item `json:"resources"`
		NextPageKey string `json:"nextPageKey,omitempty"`
	}{Resources: []item{}}
	start, _ := strconv.Atoi(pageKey)
	end := min(start+2, len(uris))
	for _, u := range uris[min(start, end):end] {
		resp.Resources = append(resp.Resources, item{ResourceURI: u})
	}
	if end < len(uris) {
		resp.NextPageKey = strconv.Itoa(end)
	}
	_ = json.NewEncoder(w).Encode(resp)
}
