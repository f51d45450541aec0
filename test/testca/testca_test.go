package testca

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
	"time"
)

// TestIssuedCertificatesVerify: what the CA issues verifies against its
// PEM alone, for the uses the bed and the stand-in give it, and no two
// certificates share a serial number.
func TestIssuedCertificatesVerify(t *testing.T) {
	now := time.Now().Add(-time.Hour)
	ca, err := New("test", now, now.Add(time.Hour*2))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.PEM) {
		t.Fatal("the CA's PEM holds no certificate")
	}
	tests := []struct {
		name  string
		tmpl  x509.Certificate
		usage x509.ExtKeyUsage
		host  string
	}{
		{"loopback server", x509.Certificate{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, x509.ExtKeyUsageServerAuth, "127.0.0.1"},
		{"client", x509.Certificate{Subject: pkix.Name{Organization: []string{"system:masters"}}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, x509.ExtKeyUsageClientAuth, ""},
	}
	serials := map[string]bool{ca.Cert.SerialNumber.String(): true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := tt.tmpl
			tmpl.Subject.CommonName = tt.name
			tmpl.NotBefore, tmpl.NotAfter = now, now.Add(2*time.Hour)
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature
			der, key, err := ca.Issue(&tmpl)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if !key.PublicKey.Equal(cert.PublicKey) {
				t.Error("the key returned is not the certificate's")
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Error(err)
			}
			if serials[cert.SerialNumber.String()] {
				t.Errorf("serial %s issued twice", cert.SerialNumber)
			}
			serials[cert.SerialNumber.String()] = true
		})
	}
}
