package keptnstandin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
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
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("private CA: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "keptn-standin private CA"},
		NotBefore:             now,
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("private CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("private CA: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "keptn-standin"},
		NotBefore:    now,
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}, caTmpl, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("private CA: serving certificate: %w", err)
	}
	return &PrivateCA{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Serving: tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key},
	}, nil
}

// WithTLS serves HTTPS with cert (for example PrivateCA.Serving); URL and
// the URLs derived from it then start with https://.
func WithTLS(cert tls.Certificate) Option {
	return func(o *options) { o.tls = &cert }
}
