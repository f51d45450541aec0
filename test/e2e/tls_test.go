package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/test/fetcher"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
)

// TestFetchOverTLSWithPrivateCA: Keptn behind an operator's own CA, as
// docs/deploy.md describes it. The function trusts the CA from
// KEPTN_CA_FILE (it reads job/config.yaml and sends .started over TLS);
// KEPTN_CA_CONFIGMAP gives each Job's fetcher, and only the fetcher, the
// same CA from a ConfigMap of the job namespace, and the real fetcher,
// run with that Job's args, env and mounted CA, fetches over TLS. Without
// the setting the fetcher fails, naming the certificate; a function
// without KEPTN_CA_FILE reaches no config and creates nothing.
func TestFetchOverTLSWithPrivateCA(t *testing.T) {
	ca, err := keptnstandin.NewPrivateCA()
	require.NoError(t, err)
	caFile := filepath.Join(t.TempDir(), "keptn-ca.crt")
	require.NoError(t, os.WriteFile(caFile, ca.CertPEM, 0o644))
	e := newEnv(t, withKeptn(keptnstandin.WithTLS(ca.Serving)), withFunctionEnv("KEPTN_CA_FILE", caFile))
	require.Regexp(t, `^https://`, e.keptn.URL())
	_, err = e.kube.CoreV1().ConfigMaps(e.ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "keptn-ca"},
		Data:       map[string]string{"ca.crt": string(ca.CertPEM)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	const p, st, sv = "e2e-project", "e2e", "e2e-service"
	e.commit(map[string]string{
		serviceResource(p, st, sv, "job/config.yaml"): `apiVersion: v2
actions:
  - name: over tls
    events:
      - name: sh.keptn.event.test.triggered
    tasks:
      - name: t
        image: alpine:3.20
        files: [locust/basic.py]
`,
		serviceResource(p, st, sv, "locust/basic.py"): "print('over tls')\n",
	})

	e.extraEnv["KEPTN_CA_CONFIGMAP"] = "keptn-ca/ca.crt"
	withCA := e.startFunction("with-ca")
	job := e.createdJob(withCA.url)
	fetch := fetcher.Container(&job)
	require.NotNil(t, fetch)
	assert.Contains(t, fetch.Env, corev1.EnvVar{Name: "KEPTN_API_CA_FILE", Value: "/etc/keptn-ca/ca.crt"})
	assert.Contains(t, fetch.VolumeMounts, corev1.VolumeMount{Name: "keptn-ca", MountPath: "/etc/keptn-ca", ReadOnly: true})
	for _, c := range append(job.Spec.Template.Spec.Containers, job.Spec.Template.Spec.InitContainers[1:]...) {
		for _, m := range c.VolumeMounts {
			assert.NotEqual(t, "keptn-ca", m.Name, "task %s mounts the CA", c.Name)
		}
	}
	tree, out, code := e.runFetcher(job)
	require.Equal(t, 0, code, "fetcher output: %s", out)
	assert.Equal(t, "print('over tls')\n", string(tree["locust/basic.py"]))

	delete(e.extraEnv, "KEPTN_CA_CONFIGMAP")
	withoutCA := e.startFunction("without-ca-configmap")
	job = e.createdJob(withoutCA.url)
	assert.NotContains(t, fetcher.Container(&job).Env, corev1.EnvVar{Name: "KEPTN_API_CA_FILE", Value: "/etc/keptn-ca/ca.crt"})
	tree, out, code = e.runFetcher(job)
	assert.Equal(t, 8, code, "exit 8: Keptn answered unexpectedly (a TLS certificate); output: %s", out)
	assert.Contains(t, out, "certificate signed by unknown authority")
	assert.Empty(t, tree)

	delete(e.extraEnv, "KEPTN_CA_FILE")
	untrusting := e.startFunction("without-ca-file")
	ce := newTriggered("test", scope, "")
	assert.Equal(t, http.StatusServiceUnavailable, deliverDirect(t, untrusting.url, ce), "the config cannot be read: retry")
	assert.Empty(t, e.jobsOf(ce.ID()))
}

// createdJob delivers a test.triggered to the replica at url and returns
// the one Job it created, once .started reached Keptn.
func (e *env) createdJob(url string) batchv1.Job {
	e.t.Helper()
	ce := newTriggered("test", scope, "")
	require.Equal(e.t, http.StatusAccepted, deliver(e.t, url, ce))
	created := e.jobsOf(ce.ID())
	require.Len(e.t, created, 1)
	require.Len(e.t, e.eventsFor(ce.ID(), keptn.TaskType("test", keptn.KindStarted)), 1, ".started went to Keptn over TLS")
	require.Equal(e.t, jobs.FetcherContainer, created[0].Spec.Template.Spec.InitContainers[0].Name)
	return created[0]
}
