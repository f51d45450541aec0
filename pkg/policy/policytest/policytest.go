// Package policytest runs an in-memory OCI registry on loopback and pushes
// and signs images in it exactly as cosign lays key-based signatures out
// (an image tagged sha256-<hex>.sig with a simple-signing layer per
// signature), for tests of image policies.
package policytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Registry is an in-memory registry served over HTTP on 127.0.0.1.
type Registry struct {
	t   testing.TB
	srv *httptest.Server
}

// NewRegistry starts a registry that stops with the test.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return &Registry{t: t, srv: srv}
}

// Host is host:port, the registry part of references.
func (r *Registry) Host() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// Close stops the registry (to test an unreachable one).
func (r *Registry) Close() { r.srv.Close() }

// Push writes a new random image at repo:tag (repo without the host) and
// returns its digest reference.
func (r *Registry) Push(repo, tag string) name.Digest {
	r.t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		r.t.Fatal(err)
	}
	ref, err := name.NewTag(r.Host() + "/" + repo + ":" + tag)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		r.t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		r.t.Fatal(err)
	}
	return ref.Context().Digest(d.String())
}

// Key is a cosign-style ECDSA P-256 key pair.
type Key struct {
	signer signature.SignerVerifier
	// PublicPEM is what `cosign generate-key-pair` writes to cosign.pub.
	PublicPEM string
}

// NewKey generates a key pair.
func NewKey(t testing.TB) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &Key{signer: sv, PublicPEM: string(pem)}
}

// Sign attaches a signature of d by k, as `cosign sign --key` does
// (without the transparency log upload). claimed is the payload's
// docker-reference; "" means d's repository.
func (r *Registry) Sign(d name.Digest, k *Key, claimed string) {
	r.t.Helper()
	body, err := json.Marshal(payload.Cosign{Image: d, ClaimedIdentity: claimed}.SimpleContainerImage())
	if err != nil {
		r.t.Fatal(err)
	}
	r.Attach(d, body, k)
}

// Attach adds a signature layer with payload body, signed by k, to d's
// signature image (creating it if needed).
func (r *Registry) Attach(d name.Digest, body []byte, k *Key) {
	r.t.Helper()
	sig, err := k.signer.SignMessage(strings.NewReader(string(body)))
	if err != nil {
		r.t.Fatal(err)
	}
	tag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
	base, err := remote.Image(tag)
	if err != nil {
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(body, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		r.t.Fatal(err)
	}
}

// Digest returns the digest the tag points at now.
func (r *Registry) Digest(repo, tag string) v1.Hash {
	r.t.Helper()
	ref, err := name.NewTag(r.Host() + "/" + repo + ":" + tag)
	if err != nil {
		r.t.Fatal(err)
	}
	desc, err := remote.Head(ref)
	if err != nil {
		r.t.Fatal(err)
	}
	return desc.Digest
}

// AttachReferrer attaches body as a sigstore bundle referrer of d: a
// manifest whose subject is d, whose config media type (the artifact
// type the referrers API reports) and one layer are cosign v3's bundle
// type. Real bundles come from the real CLI (test/cosign); this writes
// malformed or oversized ones.
func (r *Registry) AttachReferrer(d name.Digest, body []byte) {
	r.t.Helper()
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	desc, err := remote.Head(d)
	if err != nil {
		r.t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, bundleType)
	img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(body, bundleType)})
	if err != nil {
		r.t.Fatal(err)
	}
	img = mutate.Subject(img, *desc).(v1.Image)
	dg, err := img.Digest()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.Write(d.Context().Digest(dg.String()), img); err != nil {
		r.t.Fatal(err)
	}
}
