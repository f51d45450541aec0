package keptnstandin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestTLSFromPrivateCA: a client that trusts the private CA reads over
// HTTPS; one that trusts only the system roots is refused by its own TLS
// verification, before any request (and token) reaches the stand-in.
func TestTLSFromPrivateCA(t *testing.T) {
	ca, err := NewPrivateCA()
	if err != nil {
		t.Fatal(err)
	}
	s := NewStarted(t, WithTLS(ca.Serving))
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s, want https on loopback", s.URL())
	}
	s.Commit(map[string][]byte{"project/p/resource/a": []byte("x")})
	u := s.URL() + "/v1/project/p/resource/a"

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CertPEM holds no certificate")
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := trusting.Get(u)
	if err != nil {
		t.Fatalf("with the private CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with the private CA: %s", resp.Status)
	}

	before := s.Requests(KeyProjectResource)
	resp, err = http.Get(u) //nolint:gosec // u is the stand-in's loopback URL, made by this test
	if err == nil {
		resp.Body.Close()
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("without the CA: err %v, want x509.UnknownAuthorityError", err)
	}
	if n := s.Requests(KeyProjectResource); n != before {
		t.Errorf("a request without trust reached the stand-in (%d, was %d)", n, before)
	}
}
