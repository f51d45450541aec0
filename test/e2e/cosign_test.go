package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/keptn-sandbox/job-executor-knative/pkg/policy/policytest"
	"github.com/keptn-sandbox/job-executor-knative/test/cosign"
)

// TestCosignEndToEnd: a function replica whose policy requires cosign
// signatures runs an image cosign v3 signed (a sigstore bundle stored as
// an OCI referrer) pinned by the verified digest, and refuses the same
// rule's image whose bundle was tampered with, through Keptn's events.
func TestCosignEndToEnd(t *testing.T) {
	v3 := cosign.V3(t)
	e := newEnv(t)
	reg := policytest.NewRegistry(t)
	key := v3.GenerateKeyPair()
	signed, tampered := reg.Push("acme/tool", "v1"), reg.Push("acme/tampered", "v1")
	v3.SignBundle(key, signed.String())
	v3.SignBundle(key, tampered.String())
	cosign.RewriteBundles(t, tampered, nil, cosign.TamperSignature(t))
	indented := "          " + strings.ReplaceAll(strings.TrimSpace(key.PublicPEM), "\n", "\n          ")
	e.withPolicy("apiVersion: v1\nimages:\n  signatures:\n    - name: acme cosign v3\n      images: [" + reg.Host() + "/acme/**]\n      keys:\n        - |\n" + indented + "\n")
	fn := e.startFunction("replica-0")
	e.commit(map[string]string{
		serviceResource("e2e-project", "e2e", "signed", "job/config.yaml"):   oneTask("", imageTask(reg.Host()+"/acme/tool:v1")),
		serviceResource("e2e-project", "e2e", "tampered", "job/config.yaml"): oneTask("", imageTask(reg.Host()+"/acme/tampered:v1")),
	})

	job := e.expectJob(t, fn.url, newTriggered("test", serviceScope("signed"), ""))
	assert.Equal(t, signed.String(), job.Spec.Template.Spec.Containers[0].Image, "the Job runs the digest whose bundle verified")
	e.expectRefused(t, fn.url, newTriggered("test", serviceScope("tampered"), ""),
		reg.Host()+"/acme/tampered:v1", "images.signatures[0] (line 4)", "acme cosign v3", "bundle 1:")
}
