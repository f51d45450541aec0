package policy

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// How cosign v3 stores a signature: an OCI 1.1 referrer of the image (a
// manifest whose subject is the image's digest) with this artifact type,
// one layer holding a sigstore bundle, a DSSE envelope around an in-toto
// statement of this predicate type whose subject is the image's digest.
const (
	bundleArtifactPrefix = "application/vnd.dev.sigstore.bundle"
	cosignSignPredicate  = "https://sigstore.dev/cosign/sign/v1"
	// maxBundle bounds one bundle (a key-signed one is about 2 KB, one
	// with a certificate chain and a log entry about 10 KB).
	maxBundle = 256 << 10
)

// bundles fetches the sigstore bundles attached to d as referrers, at
// most maxSignatures of them. A registry without the referrers API is
// asked for cosign's fallback tag (go-containerregistry does that).
func (r *registry) bundles(ctx context.Context, d name.Digest) ([][]byte, error) {
	idx, err := remote.Referrers(d, r.options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, registryErr(fmt.Sprintf("listing the referrers of %s", d), err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, registryErr(fmt.Sprintf("listing the referrers of %s", d), err)
	}
	var out [][]byte
	for _, desc := range m.Manifests {
		if !strings.HasPrefix(desc.ArtifactType, bundleArtifactPrefix) {
			continue
		}
		if len(out) == maxSignatures {
			break
		}
		b, err := r.bundleLayer(ctx, d.Context().Digest(desc.Digest.String()))
		if err != nil {
			return nil, err
		}
		if b != nil {
			out = append(out, b)
		}
	}
	return out, nil
}

// bundleLayer reads the bundle layer of one referrer manifest; nil when
// it has none or one over maxBundle (which cannot be cosign's).
func (r *registry) bundleLayer(ctx context.Context, ref name.Digest) ([]byte, error) {
	img, err := remote.Image(ref, r.options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			// Listed but gone (deleted since the listing was written).
			return nil, nil
		}
		return nil, registryErr(fmt.Sprintf("fetching the signature %s", ref), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, registryErr(fmt.Sprintf("reading the signature %s", ref), err)
	}
	for _, l := range m.Layers {
		if !strings.HasPrefix(string(l.MediaType), bundleArtifactPrefix) || l.Size > maxBundle {
			continue
		}
		return readLayer(img, l)
	}
	return nil, nil
}

// readLayer reads one blob, bounded; the layer reader checks it against
// its digest.
func readLayer(img v1.Image, l v1.Descriptor) ([]byte, error) {
	layer, err := img.LayerByDigest(l.Digest)
	if err != nil {
		return nil, registryErr("reading a signature", err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, registryErr("reading a signature", err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, l.Size+1))
	if err != nil {
		return nil, registryErr("reading a signature", err)
	}
	return body, nil
}

// checkBundle verifies one bundle against rule s with sigstore-go: the
// signature by one of the rule's keys or by a certificate for one of its
// identities that chains to the trusted root, the transparency-log entry
// when the bundle carries one (or the rule requires one), and that the
// signed statement is cosign's signature of exactly d. It returns which
// signer it was.
func checkBundle(data []byte, d name.Digest, s *SignatureRule, trust root.TrustedMaterial) (string, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return "", fmt.Errorf("not a sigstore bundle: %w", err)
	}
	digest, err := hex.DecodeString(strings.TrimPrefix(d.DigestStr(), "sha256:"))
	if err != nil || !strings.HasPrefix(d.DigestStr(), "sha256:") {
		return "", fmt.Errorf("digest %s is not sha256", d.DigestStr())
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	entries, err := b.TlogEntries()
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	if len(entries) > 0 && trust == nil {
		return "", errors.New("it carries a transparency-log entry, and the rule has no trustedRoot naming the log to check it with")
	}
	opts, err := timeOptions(len(entries) > 0, vc.Certificate() != nil, s.requireTlog)
	if err != nil {
		return "", err
	}
	artifact := verify.WithArtifactDigest("sha256", digest)
	if vc.Certificate() != nil {
		return checkCertificate(&b, s, trust, artifact, opts)
	}
	return checkKeys(&b, s, trust, artifact, opts)
}

// timeOptions says what establishes the time of a signature: the log
// entry's integrated time when the bundle carries one (and then the entry
// is verified against the trusted root's logs), else the current time for
// a certificate and none for a key, unless the rule requires a log entry.
func timeOptions(hasTlog, hasCert, requireTlog bool) ([]verify.VerifierOption, error) {
	switch {
	case hasTlog:
		return []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1)}, nil
	case requireTlog:
		return nil, errors.New("it carries no transparency-log entry, and the rule requires one (transparencyLog: required)")
	case hasCert:
		return []verify.VerifierOption{verify.WithCurrentTime()}, nil
	}
	return []verify.VerifierOption{verify.WithNoObserverTimestamps()}, nil
}

func checkCertificate(b *bundle.Bundle, s *SignatureRule, trust root.TrustedMaterial, artifact verify.ArtifactPolicyOption, opts []verify.VerifierOption) (string, error) {
	if len(s.identities) == 0 || trust == nil {
		return "", errors.New("it is signed with a certificate, and the rule names no identities")
	}
	v, err := verify.NewVerifier(trust, opts...)
	if err != nil {
		return "", fmt.Errorf("verifier: %w", err)
	}
	popts := make([]verify.PolicyOption, len(s.identities))
	for i, id := range s.identities {
		popts[i] = verify.WithCertificateIdentity(id.id)
	}
	res, err := v.Verify(b, verify.NewPolicy(artifact, popts...))
	if err != nil {
		return "", err
	}
	if err := cosignStatement(res); err != nil {
		return "", err
	}
	for _, id := range s.identities {
		if res.Signature != nil && res.Signature.Certificate != nil && id.id.Verify(*res.Signature.Certificate) == nil {
			return "keyless identity " + id.text + " (" + id.Path + ")", nil
		}
	}
	return "a keyless identity of the rule", nil
}

func checkKeys(b *bundle.Bundle, s *SignatureRule, trust root.TrustedMaterial, artifact verify.ArtifactPolicyOption, opts []verify.VerifierOption) (string, error) {
	if len(s.verifier) == 0 {
		return "", errors.New("it is signed with a key, and the rule names no keys")
	}
	var last error
	for i, k := range s.verifier {
		material := root.TrustedMaterialCollection{keyMaterial(k)}
		if trust != nil {
			material = append(material, trust)
		}
		v, err := verify.NewVerifier(material, opts...)
		if err != nil {
			return "", fmt.Errorf("verifier: %w", err)
		}
		res, err := v.Verify(b, verify.NewPolicy(artifact, verify.WithKey()))
		if err != nil {
			last = err
			continue
		}
		if err := cosignStatement(res); err != nil {
			return "", err
		}
		return fmt.Sprintf("key %d of the rule", i+1), nil
	}
	return "", last
}

// keyMaterial trusts k whatever key hint the bundle gives: cosign writes
// one, but the operator's PEM carries none to compare it with.
func keyMaterial(k signature.Verifier) root.TrustedMaterial {
	ek := root.NewExpiringKey(k, time.Time{}, time.Time{})
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
}

// cosignStatement refuses a verified statement that is not cosign's
// signature: an attestation (provenance, an SBOM) signed by the same key
// says something about the image but does not sign it.
func cosignStatement(res *verify.VerificationResult) error {
	if res.Statement == nil {
		return errors.New("the bundle signs no in-toto statement")
	}
	if res.Statement.GetPredicateType() != cosignSignPredicate {
		return fmt.Errorf("the bundle is an attestation of type %q, not cosign's signature (%s)", res.Statement.GetPredicateType(), cosignSignPredicate)
	}
	return nil
}
