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
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

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
// certificate (a PEM file) makes it a keyless-style signature whose
// identity is the certificate's. No --certificate-chain: cosign would put
// the chain into the bundle, which a v0.3 bundle may not carry (sigstore
// refuses it), and Fulcio's certificates come without one.
func (c *CLI) SignBundle(k *KeyPair, ref string, cert ...string) {
	c.t.Helper()
	args := append([]string{"sign", "--key", k.Private, "--use-signing-config=false"}, offline...)
	if len(cert) == 1 {
		args = append(args, "--certificate", cert[0])
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
	return &CA{t: t, cert: cert, key: key}
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

// RewriteBundles replaces every bundle referrer of d by one whose bundle
// is edit(bundle) and whose subject is subject (d itself when nil): the
// tampered signature and the signature moved to another image, in the
// layout cosign wrote, so only the edited part differs.
func RewriteBundles(t testing.TB, d name.Digest, subject *name.Digest, edit func([]byte) []byte) {
	t.Helper()
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) == 0 {
		t.Fatalf("%s has no referrers", d)
	}
	for _, desc := range m.Manifests {
		old := d.Context().Digest(desc.Digest.String())
		rewriteOne(t, old, subject, edit)
		if subject == nil {
			if err := remote.Delete(old); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func rewriteOne(t testing.TB, ref name.Digest, subject *name.Digest, edit func([]byte) []byte) {
	t.Helper()
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	layers, _ := m["layers"].([]any)
	layer, _ := layers[0].(map[string]any)
	h, err := v1.NewHash(layer["digest"].(string))
	if err != nil {
		t.Fatal(err)
	}
	l, err := img.LayerByDigest(h)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	body = edit(body)
	nl := static.NewLayer(body, types.MediaType(layer["mediaType"].(string)))
	if err := remote.WriteLayer(ref.Context(), nl); err != nil {
		t.Fatal(err)
	}
	nd, _ := nl.Digest()
	layer["digest"], layer["size"] = nd.String(), len(body)
	target := ref
	if subject != nil {
		desc, err := remote.Head(*subject)
		if err != nil {
			t.Fatal(err)
		}
		m["subject"] = map[string]any{"mediaType": desc.MediaType, "digest": desc.Digest.String(), "size": desc.Size}
		target = *subject
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(out)
	dst := target.Context().Digest("sha256:" + hex.EncodeToString(sum[:]))
	if err := remote.Put(dst, rawManifest{body: out, mediaType: types.MediaType(m["mediaType"].(string))}); err != nil {
		t.Fatal(err)
	}
}

// rawManifest puts manifest bytes as they are (go-containerregistry would
// drop the artifactType it does not model).
type rawManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.body, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mediaType, nil }

// TamperSignature flips a bit of the DSSE signature in a bundle.
func TamperSignature(t testing.TB) func([]byte) []byte {
	return func(b []byte) []byte {
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		env, _ := doc["dsseEnvelope"].(map[string]any)
		sigs, _ := env["signatures"].([]any)
		if len(sigs) == 0 {
			t.Fatalf("no DSSE signature in the bundle: %s", b)
		}
		s0, _ := sigs[0].(map[string]any)
		raw, err := base64.StdEncoding.DecodeString(s0["sig"].(string))
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)/2] ^= 1
		s0["sig"] = base64.StdEncoding.EncodeToString(raw)
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// Same leaves a bundle as it is.
func Same(b []byte) []byte { return b }

// CopyLegacy copies from's legacy signature image (sha256-<hex>.sig) to
// the tag where to's would be.
func CopyLegacy(t testing.TB, from, to name.Digest) {
	t.Helper()
	tag := func(d name.Digest) name.Tag {
		return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
	}
	img, err := remote.Image(tag(from))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag(to), img); err != nil {
		t.Fatal(err)
	}
}

// ServeTUF serves a TUF repository on loopback whose one target is
// trusted_root.json, as the operator's mirror would, and returns the
// mirror's URL and the file holding its initial root.json.
func ServeTUF(t testing.TB, trustedRoot []byte) (mirror, rootFile string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signature.LoadSigner(priv, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	key, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(24 * time.Hour)
	root := metadata.Root(expires)
	root.Signed.ConsistentSnapshot = false
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if err := root.Signed.AddKey(key, role); err != nil {
			t.Fatal(err)
		}
	}
	targets := metadata.Targets(expires)
	tf, err := metadata.TargetFile().FromBytes("trusted_root.json", trustedRoot, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	targets.Signed.Targets["trusted_root.json"] = tf
	files := map[string][]byte{"/targets/trusted_root.json": trustedRoot}
	files["/root.json"] = signed(t, root, signer)
	files["/1.root.json"] = files["/root.json"]
	files["/targets.json"] = signed(t, targets, signer)
	files["/snapshot.json"] = signed(t, metadata.Snapshot(expires), signer)
	files["/timestamp.json"] = signed(t, metadata.Timestamp(expires), signer)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	rootFile = filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(rootFile, files["/root.json"], 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, rootFile
}

func signed[T metadata.Roles](t testing.TB, m *metadata.Metadata[T], s signature.Signer) []byte {
	t.Helper()
	if _, err := m.Sign(s); err != nil {
		t.Fatal(err)
	}
	b, err := m.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
