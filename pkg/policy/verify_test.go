package policy

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/policy/policytest"
)

// signedPolicy requires signatures by keys on every image of reg's acme/
// repositories.
func signedPolicy(t *testing.T, reg *policytest.Registry, keys ...*policytest.Key) *Policy {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nimages:\n  signatures:\n    - name: acme\n      images: [%s/acme/**]\n      keys:\n", reg.Host())
	for _, k := range keys {
		b.WriteString("        - |\n")
		for _, line := range strings.Split(strings.TrimSpace(k.PublicPEM), "\n") {
			b.WriteString("          " + line + "\n")
		}
	}
	return parsePolicy(t, b.String())
}

// A signature rule whose images list is empty covers nothing while it
// looks like a rule in force: refused, like `keys: []` (TestParseErrors).
func TestSignatureRuleWithNoImages(t *testing.T) {
	k := policytest.NewKey(t)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nimages:\n  signatures:\n    - images: []\n      keys:\n        - |\n")
	for _, line := range strings.Split(strings.TrimSpace(k.PublicPEM), "\n") {
		b.WriteString("          " + line + "\n")
	}
	_, err := Parse("policy.yaml", []byte(b.String()))
	require.ErrorContains(t, err, "policy.yaml:4:7: images.signatures[0].images: required: at least one image pattern")
}

func TestSignatures(t *testing.T) {
	reg := policytest.NewRegistry(t)
	ours, theirs := policytest.NewKey(t), policytest.NewKey(t)
	p := signedPolicy(t, reg, ours)

	signed := reg.Push("acme/signed", "v1")
	reg.Sign(signed, ours, "")
	reg.Push("acme/unsigned", "v1")
	other := reg.Push("acme/other", "v1")
	reg.Sign(other, theirs, "")
	renamed := reg.Push("acme/renamed", "v1")
	reg.Sign(renamed, ours, reg.Host()+"/acme/somethingelse")
	forOtherDigest := reg.Push("acme/forother", "v1")
	// A valid signature by our key, but of another image's digest, copied
	// next to this one.
	reg.Attach(forOtherDigest, []byte(fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`,
		reg.Host()+"/acme/forother", signed.DigestStr())), ours)

	tests := []struct {
		name   string
		image  string
		pinned string
		refuse []string
	}{
		{"signed: runs pinned", reg.Host() + "/acme/signed:v1", signed.String(), nil},
		{"by digest, signed", signed.String(), signed.String(), nil},
		{"unsigned: refused", reg.Host() + "/acme/unsigned:v1", "", []string{"images.signatures[0] (line 4) of policy.yaml (acme)", "a signature by one of its keys is required", "has no signature"}},
		{"signed by another key: refused", reg.Host() + "/acme/other:v1", "", []string{"none of its 1 signature(s)", "is a valid signature of this digest"}},
		{"signed for another repository: refused", reg.Host() + "/acme/renamed:v1", "", []string{"acme/renamed:v1", "none of its 1 signature(s)"}},
		{"a signature of another digest: refused", reg.Host() + "/acme/forother:v1", "", []string{"none of its 1 signature(s)"}},
		{"unknown tag: refused", reg.Host() + "/acme/signed:v9", "", []string{"not found in the registry"}},
		{"not covered by a rule: left alone", reg.Host() + "/other/x:v1", reg.Host() + "/other/x:v1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := admit(t, p, configYAML(withImageTask(tt.image)), testEvent())
			if tt.refuse != nil {
				refusedAt(t, err, 7, append(tt.refuse, tt.image, "actions[0].tasks[0].image")...)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.pinned, out.Actions[0].Tasks[0].Image)
		})
	}
}

func TestSignatureByAnyOfTheKeys(t *testing.T) {
	reg := policytest.NewRegistry(t)
	a, b := policytest.NewKey(t), policytest.NewKey(t)
	d := reg.Push("acme/x", "v1")
	reg.Sign(d, policytest.NewKey(t), "") // a stranger's signature first
	reg.Sign(d, b, "")
	out, err := admit(t, signedPolicy(t, reg, a, b), configYAML(withImageTask(reg.Host()+"/acme/x:v1")), testEvent())
	require.NoError(t, err)
	assert.Equal(t, d.String(), out.Actions[0].Tasks[0].Image)
}

func TestTagMovedAfterVerificationRunsTheVerifiedDigest(t *testing.T) {
	reg := policytest.NewRegistry(t)
	key := policytest.NewKey(t)
	p := signedPolicy(t, reg, key)
	image := reg.Host() + "/acme/tool:stable"
	first := reg.Push("acme/tool", "stable")
	reg.Sign(first, key, "")

	out, err := admit(t, p, configYAML(withImageTask(image)), testEvent())
	require.NoError(t, err)
	job, err := jobs.Build(out, 0, testEvent(), testSettings())
	require.NoError(t, err)

	// Someone pushes other bytes under the same tag after the check.
	moved := reg.Push("acme/tool", "stable")
	require.NotEqual(t, first.DigestStr(), moved.DigestStr())
	require.Equal(t, moved.DigestStr(), reg.Digest("acme/tool", "stable").String())

	assert.Equal(t, first.String(), job.Spec.Template.Spec.Containers[0].Image, "the Job runs the verified digest, not the tag")
	// The next event resolves the tag again and finds the unsigned image.
	_, err = admit(t, p, configYAML(withImageTask(image)), testEvent())
	refusedAt(t, err, 7, moved.DigestStr(), "has no signature")
}

func TestVerificationIsCachedByDigest(t *testing.T) {
	reg := policytest.NewRegistry(t)
	key := policytest.NewKey(t)
	p := signedPolicy(t, reg, key)
	d := reg.Push("acme/tool", "v1")
	reg.Sign(d, key, "")
	_, err := admit(t, p, configYAML(withImageTask(d.String())), testEvent())
	require.NoError(t, err)
	assert.Equal(t, 1, p.registry.cache.len())

	// A reference by digest needs no registry once verified.
	reg.Close()
	out, err := admit(t, p, configYAML(withImageTask(d.String())), testEvent())
	require.NoError(t, err)
	assert.Equal(t, d.String(), out.Actions[0].Tasks[0].Image)
}

func TestCacheIsBounded(t *testing.T) {
	c := digestCache{max: 2}
	c.add("a", "x")
	c.add("b", "x")
	c.add("c", "x")
	assert.LessOrEqual(t, c.len(), 2)
	_, ok := c.get("c")
	assert.True(t, ok, "the newest entry is kept")
}

func TestRegistryUnreachableIsRetryable(t *testing.T) {
	reg := policytest.NewRegistry(t)
	key := policytest.NewKey(t)
	p := signedPolicy(t, reg, key)
	d := reg.Push("acme/tool", "v1")
	reg.Sign(d, key, "")
	reg.Close()
	for _, image := range []string{reg.Host() + "/acme/tool:v1", d.String()} {
		_, err := admit(t, p, configYAML(withImageTask(image)), testEvent())
		require.Error(t, err, image)
		assert.True(t, IsUnavailable(err), "an unreachable registry says nothing about the image: %v", err)
		assert.False(t, IsRefusal(err), image)
	}
}

func TestRegistryServerErrorIsRetryable(t *testing.T) {
	err := registryErr("x", context.DeadlineExceeded)
	assert.True(t, IsUnavailable(err))
}

func TestPluginImagesAreVerifiedToo(t *testing.T) {
	reg := policytest.NewRegistry(t)
	key := policytest.NewKey(t)
	d := reg.Push("acme/plugin", "v1")
	p := parsePolicy(t, fmt.Sprintf("apiVersion: v1\nplugins:\n  echo: {image: %q}\nimages:\n  signatures:\n    - images: [%s/acme/**]\n      keys:\n        - |\n%s", d.String(), reg.Host(), indent(key.PublicPEM, "          ")))
	_, err := admit(t, p, configYAML(withTask("plugin: echo")), testEvent())
	refusedAt(t, err, 7, "has no signature")

	reg.Sign(d, key, "")
	out, err := admit(t, p, configYAML(withTask("plugin: echo")), testEvent())
	require.NoError(t, err)
	assert.Equal(t, d.String(), out.Actions[0].Tasks[0].Image)
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// Signature material is bounded: a referrer whose bundle layer is over
// maxBundle is not read (the image counts as unsigned), and the registry
// is not asked for more than maxSignatures bundles.
func TestBundleSizeIsBounded(t *testing.T) {
	reg := policytest.NewRegistry(t)
	key := policytest.NewKey(t)
	p := signedPolicy(t, reg, key)
	d := reg.Push("acme/huge", "v1")
	reg.AttachReferrer(d, bytes.Repeat([]byte("x"), maxBundle+1))
	_, err := admit(t, p, configYAML(withImageTask(d.String())), testEvent())
	refusedAt(t, err, 7, "has no signature")

	small := reg.Push("acme/garbage", "v1")
	reg.AttachReferrer(small, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	_, err = admit(t, p, configYAML(withImageTask(small.String())), testEvent())
	refusedAt(t, err, 7, "bundle 1:")
	assert.False(t, IsUnavailable(err), "a bad bundle is a refusal, never a retry")
}
