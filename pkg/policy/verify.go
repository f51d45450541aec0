package policy

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Where and how cosign stores a key-based signature: an image tagged
// sha256-<hex>.sig in the signed image's repository, one layer per
// signature, whose blob is the "simple signing" payload and whose
// annotation holds the base64 signature over that blob.
const (
	sigTagSuffix        = ".sig"
	simpleSigningMedia  = "application/vnd.dev.cosign.simplesigning.v1+json"
	signatureAnnotation = "dev.cosignproject.cosign/signature"
	// maxSignatures bounds the layers looked at; maxPayload bounds a
	// payload blob (cosign's are a few hundred bytes).
	maxSignatures = 32
	maxPayload    = 64 << 10
	// registryTimeout bounds one image's resolution and verification.
	registryTimeout = 30 * time.Second
)

// ErrUnavailable marks a failure that says nothing about the image (a
// registry or the Kubernetes API unreachable or failing): the event should
// be retried, not the action refused.
var ErrUnavailable = errors.New("temporarily unavailable")

// ErrNotChecked is what an offline SecretReader (jobctl's) answers: the
// Secret's labels cannot be known here. The action is admitted with a
// warning naming the label the Secret needs, so validate and render still
// check everything else.
var ErrNotChecked = errors.New("not checked offline")

// IsUnavailable reports whether err is worth a retry of the whole event.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// registry resolves tags and verifies signatures, remembering which digests
// verified under which rule.
type registry struct {
	transport http.RoundTripper
	keychain  authn.Keychain
	cache     digestCache
}

func newRegistry() *registry {
	return &registry{keychain: authn.DefaultKeychain, cache: digestCache{max: 1024}}
}

func (r *registry) options(ctx context.Context) []remote.Option {
	rt := r.transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(r.keychain),
		remote.WithTransport(rt),
		// The broker retries the whole event; a short in-call retry only
		// smooths over a blip.
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2}),
	}
}

// resolve returns the digest img refers to now: its own digest, or the
// tag's, asked of the registry.
func (r *registry) resolve(ctx context.Context, img Image) (name.Digest, error) {
	if img.Digest != "" {
		return name.NewDigest(img.Repository + "@" + img.Digest)
	}
	tag, err := name.NewTag(img.Repository + ":" + img.Tag)
	if err != nil {
		return name.Digest{}, err
	}
	desc, err := remote.Head(tag, r.options(ctx)...)
	if err != nil {
		return name.Digest{}, registryErr(fmt.Sprintf("resolving %s", tag), err)
	}
	return tag.Context().Digest(desc.Digest.String()), nil
}

// verify checks that d carries a signature satisfying rule s: a sigstore
// bundle attached as an OCI referrer (cosign v3's default) or, for a rule
// with keys, a signature in cosign's legacy layout (a sha256-<hex>.sig
// tag, cosign v2's default). It returns which signature satisfied it. The
// result is cached by digest and rule: a digest names immutable content,
// so a verified one stays verified, and moving the tag cannot change it.
// trust loads the rule's trusted root, only when a bundle needs it.
func (r *registry) verify(ctx context.Context, d name.Digest, s *SignatureRule, trust func() (root.TrustedMaterial, error)) (string, error) {
	key := d.String() + "\x00" + s.Path
	if how, ok := r.cache.get(key); ok {
		return how, nil
	}
	var reasons []string
	bundles, err := r.bundles(ctx, d)
	var unsigned errUnsigned
	switch {
	case errors.As(err, &unsigned):
		// A registry that refuses the referrers API may still hold a
		// legacy signature.
		reasons = append(reasons, unsigned.reason)
	case err != nil:
		return "", err
	}
	if len(bundles) > 0 {
		tm, err := trust()
		if err != nil {
			return "", err
		}
		for i, b := range bundles {
			how, err := checkBundle(b, d, s, tm)
			if err == nil {
				how = "a sigstore bundle (OCI referrer) verified with " + how
				r.cache.add(key, how)
				return how, nil
			}
			reasons = append(reasons, fmt.Sprintf("bundle %d: %v", i+1, err))
		}
	}
	how, legacy, err := r.verifyLegacy(ctx, d, s)
	switch {
	case err != nil:
		return "", err
	case how != "":
		r.cache.add(key, how)
		return how, nil
	case len(bundles) == 0 && legacy == "" && len(reasons) == 0:
		return "", errUnsigned{fmt.Sprintf("it has no signature (no sigstore bundle among its referrers, no %s)", legacyTag(d).TagStr())}
	}
	if legacy != "" {
		reasons = append(reasons, legacy)
	}
	if len(reasons) == 1 {
		return "", errUnsigned{reasons[0]}
	}
	return "", errUnsigned{fmt.Sprintf("none of its %d signatures satisfies the rule: %s", len(reasons), strings.Join(reasons, "; "))}
}

func legacyTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + sigTagSuffix)
}

// verifyLegacy looks for a signature by one of s's keys in cosign's legacy
// layout. It returns how it verified, or why none did ("" when there is
// no signature image at all).
func (r *registry) verifyLegacy(ctx context.Context, d name.Digest, s *SignatureRule) (how, reason string, err error) {
	sigTag := legacyTag(d)
	img, err := remote.Image(sigTag, r.options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return "", "", nil
		}
		return "", "", registryErr(fmt.Sprintf("fetching signatures %s", sigTag), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return "", "", registryErr(fmt.Sprintf("reading signatures %s", sigTag), err)
	}
	seen := 0
	for _, l := range m.Layers {
		if l.MediaType != simpleSigningMedia || l.Annotations[signatureAnnotation] == "" {
			continue
		}
		if seen++; seen > maxSignatures {
			break
		}
		if l.Size > maxPayload {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(l.Annotations[signatureAnnotation])
		if err != nil {
			continue
		}
		body, err := readLayer(img, l)
		if err != nil {
			return "", "", err
		}
		if i, err := checkPayload(body, sig, d, s); err == nil {
			return fmt.Sprintf("a signature in cosign's legacy layout (%s) verified with key %d of the rule", sigTag.TagStr(), i+1), "", nil
		}
	}
	if len(s.verifier) == 0 {
		return "", fmt.Sprintf("%s holds key-based signatures only, and the rule names no keys", sigTag.TagStr()), nil
	}
	return "", fmt.Sprintf("none of its %d signature(s) in cosign's legacy layout (%s) is a valid signature of this digest by a key of the rule", seen, sigTag.TagStr()), nil
}

// checkPayload verifies one signature over one payload and that the payload
// is about d; it returns the index of the key that signed.
func checkPayload(body, sig []byte, d name.Digest, s *SignatureRule) (int, error) {
	key := -1
	for i, v := range s.verifier {
		if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)) == nil {
			key = i
			break
		}
	}
	if key < 0 {
		return 0, errors.New("not signed by a configured key")
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, fmt.Errorf("payload: %w", err)
	}
	if p.Critical.Type != payload.CosignSignatureType {
		return 0, fmt.Errorf("payload type %q", p.Critical.Type)
	}
	if p.Critical.Image.DockerManifestDigest != d.DigestStr() {
		return 0, fmt.Errorf("signs %s, not %s", p.Critical.Image.DockerManifestDigest, d.DigestStr())
	}
	if s.matchIdentity {
		ref, err := name.ParseReference(p.Critical.Identity.DockerReference)
		if err != nil || ref.Context().Name() != d.Context().Name() {
			return 0, fmt.Errorf("signed as %q, not %s", p.Critical.Identity.DockerReference, d.Context().Name())
		}
	}
	return key, nil
}

// errUnsigned is a verification that failed because of the image (no
// signature, or none that verifies): a refusal.
type errUnsigned struct{ reason string }

func (e errUnsigned) Error() string { return e.reason }

// registryErr sorts a registry failure: missing content or refused
// credentials are the image's or the operator's problem and refuse the
// action; network trouble and server errors are worth a retry.
func registryErr(what string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusTooManyRequests, te.StatusCode >= 500:
			return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
		case te.StatusCode == http.StatusNotFound:
			return errUnsigned{fmt.Sprintf("%s: not found in the registry", what)}
		}
		return errUnsigned{fmt.Sprintf("%s: the registry answered %d: %v", what, te.StatusCode, err)}
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	}
	return errUnsigned{fmt.Sprintf("%s: %v", what, err)}
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// loadVerifier reads a PEM public key (ECDSA, RSA or Ed25519, as cosign
// generate-key-pair and KMS exports write them).
func loadVerifier(pem []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem)
	if err != nil {
		return nil, fmt.Errorf("not a PEM public key: %w", err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("unsupported public key: %w", err)
	}
	return v, nil
}

// digestCache is a bounded map of verified (digest, rule) keys to how
// they verified. When full it starts over: a miss costs one registry round
// trip, never a wrong answer.
type digestCache struct {
	mu  sync.Mutex
	max int
	m   map[string]string
}

func (c *digestCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	how, ok := c.m[k]
	return how, ok
}

func (c *digestCache) add(k, how string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = map[string]string{}
	}
	c.m[k] = how
}

func (c *digestCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
