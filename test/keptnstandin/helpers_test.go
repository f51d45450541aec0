package keptnstandin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
)

type result struct {
	status int
	body   []byte
}

// send performs one request against the stand-in; token "" sends no x-token.
func send(t *testing.T, method, u, token, contentType string, body []byte) result {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("x-token", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, body: data}
}

func get(t *testing.T, u, token string) result { return send(t, http.MethodGet, u, token, "", nil) }

// resourceGot is a 200 resource answer, decoded as a client does.
type resourceGot struct {
	uri, content, version, upstream string
}

func decodeResource(t *testing.T, r result) resourceGot {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", r.status, r.body)
	}
	var body struct {
		ResourceURI     string `json:"resourceURI"`
		ResourceContent string `json:"resourceContent"`
		Metadata        struct {
			UpstreamURL string `json:"upstreamURL"`
			Version     string `json:"version"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	content, err := base64.StdEncoding.DecodeString(body.ResourceContent)
	if err != nil {
		t.Fatalf("resourceContent %q is not base64: %v", body.ResourceContent, err)
	}
	return resourceGot{uri: body.ResourceURI, content: string(content), version: body.Metadata.Version, upstream: body.Metadata.UpstreamURL}
}

// levelPath is the in-cluster path of a level; stage or service may be "".
func levelPath(project, stage, service string) string {
	p := "/v1/project/" + project
	if stage != "" {
		p += "/stage/" + stage
		if service != "" {
			p += "/service/" + service
		}
	}
	return p + "/resource"
}

// resourceURL escapes uri the way Keptn wants it in-cluster.
func resourceURL(base, project, stage, service, uri, commit string) string {
	u := base + levelPath(project, stage, service) + "/" + url.QueryEscape(uri)
	if commit != "" {
		u += "?gitCommitID=" + url.QueryEscape(commit)
	}
	return u
}

func assertKeptnError(t *testing.T, r result, status int, message string) {
	t.Helper()
	want := `{"code":` + itoa(status) + `,"message":` + quote(message) + `}`
	if r.status != status || string(r.body) != want {
		t.Errorf("got %d %s, want %d %s", r.status, r.body, status, want)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
