// Package cosign signs images with the real cosign CLIs, built from Go
// modules by the test bed's tool cache (testbed.Cosign2, testbed.Cosign3),
// so that the policy's signature checks are tested against what cosign
// writes rather than against our idea of it. Everything is offline: images
// live in policytest's in-process registry, no transparency log is
// uploaded to, and a test certificate authority stands in for Fulcio.
package cosign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// CLI is one cosign binary with a home of its own, so that nothing of the
// user's ~/.sigstore is read or written.
type CLI struct {
	t    testing.TB
	path string
	home string
}

// V2 is cosign v2, which signs in the legacy layout (sha256-<hex>.sig).
func V2(t testing.TB) *CLI { return build(t, testbed.Cosign2) }

// V3 is cosign v3, which signs sigstore bundles stored as OCI referrers.
func V3(t testing.TB) *CLI { return build(t, testbed.Cosign3) }

func build(t testing.TB, tool func(context.Context, io.Writer) (string, error)) *CLI {
	t.Helper()
	path, err := tool(context.Background(), os.Stderr)
	if err != nil {
		t.Fatalf("building cosign: %v", err)
	}
	return &CLI{t: t, path: path, home: t.TempDir()}
}

// Run runs cosign with args and returns its combined output; a failure
// fails the test.
func (c *CLI) Run(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("cosign %v: %v\n%s", args, err, out)
	}
	return out
}

func (c *CLI) run(args ...string) (string, error) {
	cmd := exec.Command(c.path, args...)
	cmd.Dir = c.home
	// An empty password encrypts the generated key as `cosign
	// generate-key-pair` does when one presses enter twice.
	cmd.Env = append(os.Environ(), "HOME="+c.home, "COSIGN_PASSWORD=", "TUF_ROOT="+filepath.Join(c.home, ".sigstore"), "DOCKER_CONFIG="+c.home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// KeyPair is what `cosign generate-key-pair` wrote.
type KeyPair struct {
	// Private and Public are the files cosign.key and cosign.pub.
	Private, Public string
	// PublicPEM is cosign.pub's content.
	PublicPEM string
	public    crypto.PublicKey
}

// GenerateKeyPair runs `cosign generate-key-pair`.
func (c *CLI) GenerateKeyPair() *KeyPair {
	c.t.Helper()
	prefix := filepath.Join(c.t.TempDir(), "cosign")
	c.Run("generate-key-pair", "--output-key-prefix", prefix)
	pub, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		c.t.Fatal(err)
	}
	key, err := cryptoutils.UnmarshalPEMToPublicKey(pub)
	if err != nil {
		c.t.Fatal(err)
	}
	return &KeyPair{Private: prefix + ".key", Public: prefix + ".pub", PublicPEM: string(pub), public: key}
}

// offline are the flags every signing needs here: no transparency-log
// upload, no signing config fetched from the public TUF repository, and
// plain HTTP to the loopback registry.
var offline = []string{"--tlog-upload=false", "--allow-insecure-registry", "--yes"}

// SignLegacy signs ref (by digest) with k as cosign v2 does by default.
func (c *CLI) SignLegacy(k *KeyPair, ref string) {
	c.t.Helper()
	c.Run(append(append([]string{"sign", "--key", k.Private}, offline...), ref)...)
}

// SignBundle signs ref (by digest) with k as cosign v3 does by default; a
// certificate and chain (PEM files) make it a keyless-style signature
// whose identity is the certificate's.
func (c *CLI) SignBundle(k *KeyPair, ref string, certAndChain ...string) {
	c.t.Helper()
	args := append([]string{"sign", "--key", k.Private, "--use-signing-config=false"}, offline...)
	if len(certAndChain) == 2 {
		args = append(args, "--certificate", certAndChain[0], "--certificate-chain", certAndChain[1])
	}
	c.Run(append(args, ref)...)
}

// CA is a test certificate authority standing in for Fulcio: it issues
// code-signing certificates carrying an identity (an email subject and the
// OIDC issuer in Fulcio's extension), and its trusted root names it.
type CA struct {
	t    testing.TB
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// ChainPEM is the file holding the CA certificate.
	ChainPEM string
}

// fulcioIssuerV2 is Fulcio's extension for the OIDC issuer (a DER
// UTF8String), which sigstore matches a rule's issuer against.
var fulcioIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}

// NewCA creates a CA valid from an hour ago for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test fulcio", Organization: []string{"job-executor-knative tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{t: t, cert: cert, key: key, ChainPEM: filepath.Join(t.TempDir(), "chain.pem")}
	writePEM(t, ca.ChainPEM, der)
	return ca
}

// Issue certifies k's public key for subject (an email) as issued by the
// OIDC issuer, and returns the certificate's PEM file.
func (ca *CA) Issue(k *KeyPair, subject, issuer string) string {
	ca.t.Helper()
	ext, err := asn1.MarshalWithParams(issuer, "utf8")
	if err != nil {
		ca.t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		ca.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		NotBefore:       time.Now().Add(-time.Minute),
		NotAfter:        time.Now().Add(time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses:  []string{subject},
		ExtraExtensions: []pkix.Extension{{Id: fulcioIssuerV2, Value: ext}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, k.public, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	path := filepath.Join(ca.t.TempDir(), "cert.pem")
	writePEM(ca.t, path, der)
	return path
}

// TrustedRoot is a sigstore trusted root JSON that names this CA as the
// only certificate authority, with no transparency or CT logs.
func (ca *CA) TrustedRoot() []byte {
	ca.t.Helper()
	doc := map[string]any{
		"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		"tlogs":     []any{},
		"ctlogs":    []any{},
		"certificateAuthorities": []any{map[string]any{
			"subject":   map[string]any{"organization": "job-executor-knative tests", "commonName": "test fulcio"},
			"uri":       "https://fulcio.test.invalid",
			"certChain": map[string]any{"certificates": []any{map[string]any{"rawBytes": base64.StdEncoding.EncodeToString(ca.cert.Raw)}}},
			"validFor":  map[string]any{"start": ca.cert.NotBefore.UTC().Format(time.RFC3339)},
		}},
		"timestampAuthorities": []any{},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		ca.t.Fatal(err)
	}
	return b
}

// TrustedRootFile writes TrustedRoot to a file and returns its path.
func (ca *CA) TrustedRootFile() string {
	ca.t.Helper()
	path := filepath.Join(ca.t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, ca.TrustedRoot(), 0o600); err != nil {
		ca.t.Fatal(err)
	}
	return path
}

func writePEM(t testing.TB, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
