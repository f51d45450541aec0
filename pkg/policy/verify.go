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

// verify checks that d carries a signature by one of rule's keys. The
// result is cached by digest and rule: a digest names immutable content, so
// a verified one stays verified, and moving the tag cannot change it.
func (r *registry) verify(ctx context.Context, d name.Digest, s *SignatureRule) error {
	key := d.String() + "\x00" + s.Path
	if r.cache.has(key) {
		return nil
	}
	sigTag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + sigTagSuffix)
	img, err := remote.Image(sigTag, r.options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return errUnsigned{fmt.Sprintf("it has no signature (no %s)", sigTag.TagStr())}
		}
		return registryErr(fmt.Sprintf("fetching signatures %s", sigTag), err)
	}
	m, err := img.Manifest()
	if err != nil {
		return registryErr(fmt.Sprintf("reading signatures %s", sigTag), err)
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
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return registryErr("reading a signature payload", err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			return registryErr("reading a signature payload", err)
		}
		// The layer reader checks the blob against its digest.
		body, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
		rc.Close()
		if err != nil {
			return registryErr("reading a signature payload", err)
		}
		if checkPayload(body, sig, d, s) == nil {
			r.cache.add(key)
			return nil
		}
	}
	return errUnsigned{fmt.Sprintf("none of its %d signature(s) is a valid signature of %s by a key of the rule", seen, d.DigestStr())}
}

// checkPayload verifies one signature over one payload and that the payload
// is about d.
func checkPayload(body, sig []byte, d name.Digest, s *SignatureRule) error {
	verified := false
	for _, v := range s.verifier {
		if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return errors.New("not signed by a configured key")
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if p.Critical.Type != payload.CosignSignatureType {
		return fmt.Errorf("payload type %q", p.Critical.Type)
	}
	if p.Critical.Image.DockerManifestDigest != d.DigestStr() {
		return fmt.Errorf("signs %s, not %s", p.Critical.Image.DockerManifestDigest, d.DigestStr())
	}
	if s.matchIdentity {
		ref, err := name.ParseReference(p.Critical.Identity.DockerReference)
		if err != nil || ref.Context().Name() != d.Context().Name() {
			return fmt.Errorf("signed as %q, not %s", p.Critical.Identity.DockerReference, d.Context().Name())
		}
	}
	return nil
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

// digestCache is a bounded set of verified (digest, rule) keys. When full
// it starts over: a miss costs one registry round trip, never a wrong
// answer.
type digestCache struct {
	mu  sync.Mutex
	max int
	m   map[string]struct{}
}

func (c *digestCache) has(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok
}

func (c *digestCache) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = map[string]struct{}{}
	}
	c.m[k] = struct{}{}
}

func (c *digestCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
