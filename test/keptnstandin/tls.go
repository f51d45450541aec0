package keptnstandin

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/test/testca"
)

// PrivateCA is a certificate authority no system trusts, made for one test:
// Keptn behind an operator's own CA. Its serving certificate is for
// loopback, where the stand-in listens.
type PrivateCA struct {
	// CertPEM is the CA certificate, what an operator puts in the
	// ConfigMap named by KEPTN_CA_CONFIGMAP and in KEPTN_CA_FILE.
	CertPEM []byte
	// Serving is the stand-in's certificate, signed by the CA (WithTLS).
	Serving tls.Certificate
}

// NewPrivateCA makes a CA and a loopback serving certificate signed by it.
func NewPrivateCA() (*PrivateCA, error) {
	now := time.Now().Add(-time.Hour)
	ca, err := testca.New("keptn-standin private CA", now, now.Add(48*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("private CA: %w", err)
	}
	der, key, err := ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "keptn-standin"},
		NotBefore:   now,
		NotAfter:    now.Add(48 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
	})
	if err != nil {
		return nil, fmt.Errorf("private CA: serving certificate: %w", err)
	}
	return &PrivateCA{
		CertPEM: ca.PEM,
		Serving: tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key},
	}, nil
}

// WithTLS serves HTTPS with cert (for example PrivateCA.Serving); URL and
// the URLs derived from it then start with https://.
func WithTLS(cert tls.Certificate) Option {
	return func(o *options) { o.tls = &cert }
}
