package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestRunPrintsURLAndEvents(t *testing.T) {
	// A kernel pipe, not io.Pipe: the event hook writes before the 200 is
	// sent, so an unbuffered pipe would block it until this test reads.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--dir", "../../keptnstandin/testdata/layout", "--token", "tok", "--gateway"}, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)

	if !lines.Scan() {
		t.Fatalf("no start line: %v", lines.Err())
	}
	var st started
	if err := json.Unmarshal(lines.Bytes(), &st); err != nil || !strings.HasPrefix(st.URL, "http://127.0.0.1:") || st.APIURL != st.URL+"/api" || st.Commit == "" {
		t.Fatalf("start line %s: %+v, %v", lines.Bytes(), st, err)
	}
	if strings.Contains(lines.Text(), "tok") {
		t.Errorf("the start line shows the token: %s", lines.Text())
	}

	resp, err := http.Get(st.ResourceServiceURL + "/v1/project/sockshop/resource/job%252Fconfig.yaml")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("resource without token behind the gateway: %d, want 401", resp.StatusCode)
	}

	// The project's own fixture: the function's .finished for a test run.
	body, err := os.ReadFile("../../keptnstandin/testdata/events/test.finished.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, st.APIURL+"/v1/event", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-token", "tok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("event: %d", resp.StatusCode)
	}
	if !lines.Scan() {
		t.Fatalf("no event line: %v", lines.Err())
	}
	var ev struct {
		KeptnContext string `json:"keptnContext"`
		Event        struct {
			Type string `json:"type"`
		} `json:"event"`
	}
	if err := json.Unmarshal(lines.Bytes(), &ev); err != nil || ev.Event.Type != "sh.keptn.event.test.finished" || ev.KeptnContext == "" {
		t.Errorf("event line %s: %+v, %v", lines.Bytes(), ev, err)
	}

	cancel()
	go io.Copy(io.Discard, pr) // let run finish writing, if it does
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestRunFromAnyDirectory runs the command where no file of the repository
// is in reach: the contract is embedded, so it starts and checks events.
func TestRunFromAnyDirectory(t *testing.T) {
	event, err := os.ReadFile("../../keptnstandin/testdata/events/test.started.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		cancel()
		t.Fatalf("no start line: %v (run: %v)", lines.Err(), <-done)
	}
	var st started
	if err := json.Unmarshal(lines.Bytes(), &st); err != nil {
		t.Fatalf("start line %s: %v", lines.Bytes(), err)
	}
	post := func(body string) int {
		req, _ := http.NewRequest(http.MethodPost, st.APIURL+"/v1/event", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-token", "keptn-standin-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(string(event)); code != 200 {
		t.Errorf("the .started fixture: %d, want 200", code)
	}
	// A shape go-utils cannot hold is refused: the contract is in force.
	if code := post(strings.Replace(string(event), `"contenttype"`, `"datacontenttype"`, 1)); code != 400 {
		t.Errorf("a .started with datacontenttype: %d, want 400", code)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:0"},
		{"--dir", "does-not-exist"},
		{"--no-such-flag"},
	} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("run(%v) succeeded", args)
		}
	}
}

// TestRunTLSCAOut serves HTTPS from a private CA whose certificate it
// writes out: trusting that file is what reaches it.
func TestRunTLSCAOut(t *testing.T) {
	caFile := t.TempDir() + "/ca.crt"
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--tls-ca-out", caFile}, pw)
		pw.Close()
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no start line: %v", lines.Err())
	}
	var st started
	if err := json.Unmarshal(lines.Bytes(), &st); err != nil || !strings.HasPrefix(st.URL, "https://127.0.0.1:") {
		t.Fatalf("start line %s: %+v, %v", lines.Bytes(), st, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := c.Get(st.ResourceServiceURL + "/v1/project/p/resource")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err := http.Get(st.URL + "/v1/project/p/resource"); err == nil {
		resp.Body.Close()
		t.Error("a client without the CA was served")
	}
}
