package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sync"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/test/fetcher"
)

var (
	fetcherOnce sync.Once
	fetcherBin  string
	fetcherErr  error
)

// fetch runs the real initcontainer with the fetch-files container of job,
// its token read from the Secret the container references, and returns the
// workspace it filled.
func (e *env) fetch(job batchv1.Job) map[string][]byte {
	e.t.Helper()
	tree, out, code := e.runFetcher(job)
	require.Equal(e.t, 0, code, "fetcher output: %s", out)
	return tree
}

// runFetcher runs the fetcher of job as a pod would: the Secret and the
// ConfigMap volumes (the CA) it references read from the job namespace.
// It returns the workspace, the fetcher's output and its exit code.
func (e *env) runFetcher(job batchv1.Job) (map[string][]byte, string, int) {
	e.t.Helper()
	fetcherOnce.Do(func() {
		dir, err := os.MkdirTemp("", "e2e-initcontainer-")
		if err != nil {
			fetcherErr = err
			return
		}
		fetcherBin, fetcherErr = fetcher.Build(context.Background(), dir)
	})
	require.NoError(e.t, fetcherErr)
	secret := func(name, key string) (string, error) {
		s, err := e.kube.CoreV1().Secrets(job.Namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return string(s.Data[key]), nil
	}
	configMap := func(name string) (map[string]string, error) {
		cm, err := e.kube.CoreV1().ConfigMaps(job.Namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return cm.Data, nil
	}
	workspace := filepath.Join(e.t.TempDir(), "keptn")
	out, code, err := fetcher.Run(context.Background(), fetcherBin, &job, workspace, secret, fetcher.WithConfigMaps(configMap))
	require.NoError(e.t, err)
	tree, err := fetcher.Tree(workspace)
	require.NoError(e.t, err)
	return tree, out, code
}
