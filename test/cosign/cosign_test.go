package cosign

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy/policytest"
)

// The policy's signature checks against signatures the real cosign CLIs
// wrote: each test signs images in the in-process registry and asserts the
// decision, what verified, and the digest the Job is pinned to.

const (
	subject = "release@acme.example"
	issuer  = "https://oidc.acme.example"
)

// rule is one signature rule covering reg's acme/ repositories, with the
// given signer lines (keys:, identities:, trustedRoot: …) indented under it.
func rule(reg *policytest.Registry, signer ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nimages:\n  signatures:\n    - name: acme\n      images: [%s/acme/**]\n", reg.Host())
	for _, s := range signer {
		b.WriteString("      " + s + "\n")
	}
	return b.String()
}

func keys(k ...*KeyPair) string {
	var b strings.Builder
	b.WriteString("keys:\n")
	for _, kp := range k {
		b.WriteString("        - |\n")
		for _, line := range strings.Split(strings.TrimSpace(kp.PublicPEM), "\n") {
			b.WriteString("          " + line + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func parse(t *testing.T, yaml string, opts ...policy.Option) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("policy.yaml", []byte(yaml), opts...)
	require.NoError(t, err, yaml)
	return p
}

// jobImage builds the Job for one task running image under p and returns
// the image the Job runs, or the refusal.
func jobImage(t *testing.T, p *policy.Policy, image string) (string, error) {
	t.Helper()
	cfg, err := jobconfig.Parse("job/config.yaml", []byte("apiVersion: v2\nactions:\n  - name: act\n    events:\n      - name: sh.keptn.event.test.triggered\n    tasks:\n      - name: t\n        image: "+image+"\n"))
	require.NoError(t, err)
	ev := &keptn.TaskEvent{ID: "ev-1", Type: "sh.keptn.event.test.triggered", Task: "test", Kind: "triggered", Source: "test", Context: "ctx",
		Project: "p", Stage: "s", Service: "v", Data: map[string]any{"project": "p", "stage": "s", "service": "v"}}
	s := jobs.DefaultSettings()
	s.Namespace, s.ServiceAccount = "keptn-jobs", "keptn-job"
	job, err := p.Build(context.Background(), cfg, 0, ev, s)
	if err != nil {
		return "", err
	}
	return job.Spec.Template.Spec.Containers[0].Image, nil
}

// signedApp is acme/app:v1 in a fresh registry, signed by a new key pair
// of c with sign (c.SignBundle or c.SignLegacy, certificate-less).
func signedApp(t *testing.T, c *CLI, sign func(*KeyPair, string, ...string)) (*policytest.Registry, *KeyPair, name.Digest) {
	t.Helper()
	reg := policytest.NewRegistry(t)
	key := c.GenerateKeyPair()
	d := reg.Push("acme/app", "v1")
	sign(key, d.String())
	return reg, key, d
}

// pinned requires image to be admitted under p, its Job running d.
func pinned(t *testing.T, p *policy.Policy, image string, d name.Digest) {
	t.Helper()
	got, err := jobImage(t, p, image)
	require.NoError(t, err)
	assert.Equal(t, d.String(), got, "the Job runs the verified digest")
}

// keylessApp is acme/app:v1 in a fresh registry, signed by cosign v3 with
// a certificate a new test CA issued for (subject, issuer).
func keylessApp(t *testing.T) (*policytest.Registry, *CA, *KeyPair, name.Digest) {
	t.Helper()
	v3, ca := V3(t), NewCA(t)
	reg, key, d := signedApp(t, v3, func(k *KeyPair, ref string, _ ...string) { v3.SignBundle(k, ref, ca.Issue(k, subject, issuer)) })
	return reg, ca, key, d
}

func verified(t *testing.T, p *policy.Policy, image string) policy.ImageVerification {
	t.Helper()
	v, err := p.VerifyImage(context.Background(), image)
	require.NoError(t, err)
	require.Len(t, v, 1)
	return v[0]
}

func refused(t *testing.T, p *policy.Policy, image string, want ...string) {
	t.Helper()
	_, err := jobImage(t, p, image)
	require.Error(t, err)
	assert.True(t, policy.IsRefusal(err), "a bad signature is a refusal, never a retry: %v", err)
	assert.False(t, policy.IsUnavailable(err), "%v", err)
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
}

// TestCosignKeyBundle: `cosign sign --key` as cosign v3 does it by default
// (a sigstore bundle stored as an OCI referrer) is verified with
// sigstore-go, and the Job runs the verified digest.
func TestCosignKeyBundle(t *testing.T) {
	v3 := V3(t)
	reg, key, d := signedApp(t, v3, v3.SignBundle)
	p := parse(t, rule(reg, keys(key)))
	pinned(t, p, reg.Host()+"/acme/app:v1", d)
	v := verified(t, p, reg.Host()+"/acme/app:v1")
	assert.Equal(t, d.String(), v.Digest)
	assert.Contains(t, v.How, "sigstore bundle (OCI referrer)")
	assert.Contains(t, v.How, "key 1 of the rule")

	other := v3.GenerateKeyPair()
	refused(t, parse(t, rule(reg, keys(other))), reg.Host()+"/acme/app:v1", "bundle 1:", "rule images.signatures[0]")
}

// TestCosignKeyLegacy: cosign v2's default layout (a sha256-<hex>.sig
// tag) still verifies, and a key-based bundle rule accepts either.
func TestCosignKeyLegacy(t *testing.T) {
	v2 := V2(t)
	reg, key, d := signedApp(t, v2, func(k *KeyPair, ref string, _ ...string) { v2.SignLegacy(k, ref) })
	p := parse(t, rule(reg, keys(key)))
	pinned(t, p, reg.Host()+"/acme/app:v1", d)
	v := verified(t, p, d.String())
	assert.Contains(t, v.How, "cosign's legacy layout")

	refused(t, parse(t, rule(reg, keys(v2.GenerateKeyPair()))), d.String(), "legacy layout", "is a valid signature of this digest")
}

// keyless is a rule accepting the identity (subject, issuer) under the
// test CA's trusted root, with log entries optional (the tests upload to
// no log).
func keyless(reg *policytest.Registry, trustedRoot string, identity ...string) string {
	if identity == nil {
		identity = []string{fmt.Sprintf("- {issuer: %q, subject: %q}", issuer, subject)}
	}
	lines := []string{"identities:"}
	for _, id := range identity {
		lines = append(lines, "  "+id)
	}
	lines = append(lines, trustedRoot, "transparencyLog: optional")
	return rule(reg, lines...)
}

// TestCosignKeyless: a bundle whose certificate a CA standing in for
// Fulcio issued verifies under a trusted root naming that CA, for the
// identity the rule names (exact or by regular expression), and not for
// another identity, another CA, or without a log entry when the rule
// requires one (the default for identities).
func TestCosignKeyless(t *testing.T) {
	reg, ca, key, d := keylessApp(t)
	fromFile := "trustedRoot: {file: " + ca.TrustedRootFile() + "}"
	image := reg.Host() + "/acme/app:v1"

	for _, tt := range []struct {
		name string
		ids  []string
	}{
		{"exact", nil},
		{"regexp", []string{`- {issuerRegExp: 'https://oidc\.acme\.example', subjectRegExp: '.*@acme\.example'}`}},
		{"second of two", []string{`- {issuer: "https://other.example", subject: "x@other.example"}`, fmt.Sprintf("- {issuer: %q, subject: %q}", issuer, subject)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := parse(t, keyless(reg, fromFile, tt.ids...))
			pinned(t, p, image, d)
			assert.Contains(t, verified(t, p, image).How, "keyless identity")
		})
	}
	t.Run("another subject", func(t *testing.T) {
		refused(t, parse(t, keyless(reg, fromFile, `- {issuer: "https://oidc.acme.example", subject: "intern@acme.example"}`)), image, "bundle 1:")
	})
	t.Run("a regexp matches whole values only", func(t *testing.T) {
		refused(t, parse(t, keyless(reg, fromFile, `- {issuerRegExp: 'https://oidc\.acme\.example', subjectRegExp: 'release@acme'}`)), image, "bundle 1:")
	})
	t.Run("another CA", func(t *testing.T) {
		refused(t, parse(t, keyless(reg, "trustedRoot: {file: "+NewCA(t).TrustedRootFile()+"}")), image, "bundle 1:")
	})
	t.Run("log entry required by default", func(t *testing.T) {
		p := parse(t, rule(reg, "identities:", fmt.Sprintf("  - {issuer: %q, subject: %q}", issuer, subject), fromFile))
		refused(t, p, image, "no transparency-log entry", "transparencyLog: required")
	})
	t.Run("a key rule does not accept a certificate", func(t *testing.T) {
		refused(t, parse(t, rule(reg, keys(key))), image, "signed with a certificate")
	})
}

// configMaps serves one trusted root as a ConfigMap.
type configMaps map[string]map[string]string

func (c configMaps) ConfigMapData(_ context.Context, namespace, name string) (map[string]string, error) {
	if d, ok := c[namespace+"/"+name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("configmaps %q not found", name)
}

// TestCosignTrustedRootConfigMap: the trusted root read from a ConfigMap
// the operator supplies (air-gapped clusters) verifies the same bundle.
func TestCosignTrustedRootConfigMap(t *testing.T) {
	reg, ca, _, d := keylessApp(t)
	cms := configMaps{"keptn/sigstore-root": {"trusted_root.json": string(ca.TrustedRoot())}}
	p := parse(t, keyless(reg, "trustedRoot: {configMap: {namespace: keptn, name: sigstore-root}}"), policy.WithConfigMaps(cms))
	pinned(t, p, reg.Host()+"/acme/app:v1", d)

	wrong := configMaps{"keptn/sigstore-root": {"trusted_root.json": string(NewCA(t).TrustedRoot())}}
	refused(t, parse(t, keyless(reg, "trustedRoot: {configMap: {namespace: keptn, name: sigstore-root}}"), policy.WithConfigMaps(wrong)), d.String(), "bundle 1:")
}

// TestCosignTrustedRootTUF: the trusted root fetched from a TUF mirror the
// policy names (here one on loopback, signed with its own root.json)
// verifies the same bundle.
func TestCosignTrustedRootTUF(t *testing.T) {
	reg, ca, _, d := keylessApp(t)
	mirror, rootFile := ServeTUF(t, ca.TrustedRoot())
	p := parse(t, keyless(reg, fmt.Sprintf("trustedRoot: {tuf: {mirror: %q, root: %q}}", mirror, rootFile)))
	pinned(t, p, reg.Host()+"/acme/app:v1", d)

	other, otherRoot := ServeTUF(t, NewCA(t).TrustedRoot())
	refused(t, parse(t, keyless(reg, fmt.Sprintf("trustedRoot: {tuf: {mirror: %q, root: %q}}", other, otherRoot))), d.String(), "bundle 1:")
}

// TestCosignTampered: a bundle whose signature was altered is refused
// (and is a refusal, not a retry).
func TestCosignTampered(t *testing.T) {
	v3 := V3(t)
	reg, key, d := signedApp(t, v3, v3.SignBundle)
	RewriteBundles(t, d, nil, TamperSignature(t))
	refused(t, parse(t, rule(reg, keys(key))), reg.Host()+"/acme/app:v1", d.String(), "bundle 1:")
}

// TestCosignOtherImage: a valid signature of one image, attached to
// another (as a referrer, or copied to its legacy .sig tag), does not
// vouch for it.
func TestCosignOtherImage(t *testing.T) {
	v3, v2 := V3(t), V2(t)
	reg := policytest.NewRegistry(t)
	key := v3.GenerateKeyPair()
	signed, other := reg.Push("acme/app", "v1"), reg.Push("acme/app", "v2")
	v3.SignBundle(key, signed.String())
	RewriteBundles(t, signed, &other, Same)
	p := parse(t, rule(reg, keys(key)))
	refused(t, p, reg.Host()+"/acme/app:v2", other.String(), "bundle 1:")
	pinned(t, p, reg.Host()+"/acme/app:v1", signed)

	legacySigned, legacyOther := reg.Push("acme/old", "v1"), reg.Push("acme/old", "v2")
	v2.SignLegacy(key, legacySigned.String())
	CopyLegacy(t, legacySigned, legacyOther)
	refused(t, p, reg.Host()+"/acme/old:v2", legacyOther.String(), "legacy layout")
}

// TestCosignTagMoved: the Job runs the digest verified when the event
// arrived; a tag moved to unsigned content after signing is refused on
// the next event.
func TestCosignTagMoved(t *testing.T) {
	v3 := V3(t)
	reg := policytest.NewRegistry(t)
	key := v3.GenerateKeyPair()
	first := reg.Push("acme/app", "stable")
	v3.SignBundle(key, first.String())
	p := parse(t, rule(reg, keys(key)))
	image := reg.Host() + "/acme/app:stable"

	pinned(t, p, image, first)

	moved := reg.Push("acme/app", "stable")
	require.NotEqual(t, first.String(), moved.String())
	refused(t, p, image, moved.String(), "has no signature")
}

// BenchmarkCosignVerify is one uncached verification (tag resolved,
// signatures fetched from the loopback registry and verified) of an image
// cosign v3 signed as a bundle, and of one cosign v2 signed in the legacy
// layout; a cached one is a map lookup after the tag's HEAD.
func BenchmarkCosignVerify(b *testing.B) {
	for _, tt := range []struct {
		name string
		cli  func(testing.TB) *CLI
		sign func(c *CLI, k *KeyPair, ref string)
	}{
		{"bundle", V3, func(c *CLI, k *KeyPair, ref string) { c.SignBundle(k, ref) }},
		{"legacy", V2, func(c *CLI, k *KeyPair, ref string) { c.SignLegacy(k, ref) }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c := tt.cli(b)
			reg := policytest.NewRegistry(b)
			key := c.GenerateKeyPair()
			d := reg.Push("acme/app", "v1")
			tt.sign(c, key, d.String())
			yaml := []byte(rule(reg, keys(key)))
			image := reg.Host() + "/acme/app:v1"
			for b.Loop() {
				p, err := policy.Parse("policy.yaml", yaml)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.VerifyImage(context.Background(), image); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
