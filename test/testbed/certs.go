package testbed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/test/testca"
)

// pki holds the files of the bed's certificate authority and keys. Every
// certificate is for loopback only and lives as long as the bed's directory.
type pki struct {
	CACert, CAKey                    string
	ServingCert, ServingKey          string // apiserver, controller-manager, scheduler and kwok serve with it
	AdminCert, AdminKey              string // system:masters client, also the apiserver's kubelet client
	ServiceAccountKey, SAPublic      string
	caPEM, adminCertPEM, adminKeyPEM []byte
	// The CA itself, for certificates issued later (the real node's).
	ca *testca.CA
}

func (p *pki) loadCA() (*testca.CA, error) {
	if p.ca == nil {
		return nil, fmt.Errorf("testbed: the CA of %s is not loaded", p.CACert)
	}
	return p.ca, nil
}

// newPKI writes a fresh CA, a loopback serving certificate, an admin client
// certificate and a service-account signing key pair into dir.
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{
		CACert: filepath.Join(dir, "ca.crt"), CAKey: filepath.Join(dir, "ca.key"),
		ServingCert: filepath.Join(dir, "serving.crt"), ServingKey: filepath.Join(dir, "serving.key"),
		AdminCert: filepath.Join(dir, "admin.crt"), AdminKey: filepath.Join(dir, "admin.key"),
		ServiceAccountKey: filepath.Join(dir, "sa.key"), SAPublic: filepath.Join(dir, "sa.pub"),
	}
	now := time.Now().Add(-time.Hour)
	notAfter := now.Add(10 * 365 * 24 * time.Hour)

	ca, err := testca.New("testbed-ca", now, notAfter)
	if err != nil {
		return nil, err
	}
	p.ca, p.caPEM = ca, ca.PEM
	if err := writeCert(p.CACert, p.caPEM, p.CAKey, ca.Key); err != nil {
		return nil, err
	}

	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "testbed-loopback"},
		NotBefore:   now,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	if _, _, err := issue(serving, ca, p.ServingCert, p.ServingKey); err != nil {
		return nil, err
	}

	admin := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "testbed-admin", Organization: []string{"system:masters"}},
		NotBefore:   now,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if p.adminCertPEM, p.adminKeyPEM, err = issue(admin, ca, p.AdminCert, p.AdminKey); err != nil {
		return nil, err
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	if err := writeCert(p.SAPublic, testca.PEM("PUBLIC KEY", pub), p.ServiceAccountKey, saKey); err != nil {
		return nil, err
	}
	return p, nil
}

// issue signs tmpl with the CA for a new key and writes both as PEM.
func issue(tmpl *x509.Certificate, ca *testca.CA, certPath, keyPath string) (certPEM, keyPEM []byte, err error) {
	der, key, err := ca.Issue(tmpl)
	if err != nil {
		return nil, nil, err
	}
	certPEM = testca.PEM("CERTIFICATE", der)
	if err := writeCert(certPath, certPEM, keyPath, key); err != nil {
		return nil, nil, err
	}
	keyPEM, err = os.ReadFile(keyPath)
	return certPEM, keyPEM, err
}

func writeCert(certPath string, certPEM []byte, keyPath string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, testca.PEM("EC PRIVATE KEY", der), 0o600)
}
