// Package testca is a certificate authority made for one run of the tests:
// no system trusts it, and its keys are ECDSA P-256. The bed's cluster and
// the Keptn stand-in behind an operator's private CA both issue from it.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// CA is a certificate authority and its key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is Cert as a client is told to trust it.
	PEM []byte
}

// New makes a self-signed CA named name, valid from notBefore to notAfter.
func New(name string, notBefore, notAfter time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testca: %s: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          Serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("testca: %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testca: %s: %w", name, err)
	}
	return &CA{Cert: cert, Key: key, PEM: PEM("CERTIFICATE", der)}, nil
}

// Issue signs tmpl for a new key; a tmpl without a serial number gets a
// random one.
func (ca *CA) Issue(tmpl *x509.Certificate) (der []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("testca: %s: %w", tmpl.Subject.CommonName, err)
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = Serial()
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("testca: sign %s: %w", tmpl.Subject.CommonName, err)
	}
	return der, key, nil
}

// PEM encodes der as one block of type typ.
func PEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// Serial is a random serial number: two runs' certificates never share one.
func Serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
