package cosign

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
	reg := policytest.NewRegistry(t)
	key := v3.GenerateKeyPair()
	d := reg.Push("acme/app", "v1")
	v3.SignBundle(key, d.String())

	p := parse(t, rule(reg, keys(key)))
	image, err := jobImage(t, p, reg.Host()+"/acme/app:v1")
	require.NoError(t, err)
	assert.Equal(t, d.String(), image, "the Job runs the verified digest")
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
	reg := policytest.NewRegistry(t)
	key := v2.GenerateKeyPair()
	d := reg.Push("acme/app", "v1")
	v2.SignLegacy(key, d.String())

	p := parse(t, rule(reg, keys(key)))
	image, err := jobImage(t, p, reg.Host()+"/acme/app:v1")
	require.NoError(t, err)
	assert.Equal(t, d.String(), image)
	v := verified(t, p, d.String())
	assert.Contains(t, v.How, "cosign's legacy layout")

	refused(t, parse(t, rule(reg, keys(v2.GenerateKeyPair()))), d.String(), "legacy layout", "is a valid signature of this digest")
}
