// Package fetcher runs the real initcontainer binary the way a pod would
// run the fetch-files container of a Job the function created: with that
// container's args and env (Secret references resolved), on a local
// directory standing for the /keptn emptyDir. kwok simulates containers
// without running them, so tests and the demo use this to show the files
// really arrive.
package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// Build compiles the initcontainer as its image does (static, stripped)
// into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "initcontainer")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin,
		"github.com/keptn-sandbox/job-executor-knative/initcontainer")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the initcontainer: %w\n%s", err, out)
	}
	return bin, nil
}

// SecretValue resolves a secretKeyRef of the Job's pod.
type SecretValue func(name, key string) (string, error)

// Container returns the Job's fetch-files container, or nil if the Job
// fetches no files.
func Container(job *batchv1.Job) *corev1.Container {
	for i, c := range job.Spec.Template.Spec.InitContainers {
		if c.Name == jobs.FetcherContainer {
			return &job.Spec.Template.Spec.InitContainers[i]
		}
	}
	return nil
}

// Run runs bin with the fetch-files container of job, writing into
// workspace instead of /keptn. It returns the binary's combined output and
// its exit code.
func Run(ctx context.Context, bin string, job *batchv1.Job, workspace string, secret SecretValue) (string, int, error) {
	c := Container(job)
	if c == nil {
		return "", 0, fmt.Errorf("job %s has no %s container", job.Name, jobs.FetcherContainer)
	}
	args := []string{"--termination-log=" + filepath.Join(workspace, "..", "termination-log")}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--workspace=") {
			a = "--workspace=" + workspace
		}
		args = append(args, a)
	}
	var env []string
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			ref := e.ValueFrom.SecretKeyRef
			if ref == nil {
				return "", 0, fmt.Errorf("env %s: only secretKeyRef is resolved here", e.Name)
			}
			var err error
			if v, err = secret(ref.Name, ref.Key); err != nil {
				return "", 0, fmt.Errorf("env %s: %w", e.Name, err)
			}
		}
		env = append(env, e.Name+"="+v)
	}
	if err := os.MkdirAll(workspace, 0o755); err != nil {
		return "", 0, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return string(out), ee.ExitCode(), nil
	}
	return string(out), 0, err
}

// Tree reads every regular file under root, by slash-separated path.
func Tree(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	return out, err
}
