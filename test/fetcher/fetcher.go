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

// ConfigMapData reads a ConfigMap of the Job's namespace, for the
// ConfigMap volumes the fetcher mounts (the CA of KEPTN_CA_CONFIGMAP).
type ConfigMapData func(name string) (map[string]string, error)

// Option adds to what Run can resolve.
type Option func(*runOptions)

type runOptions struct{ configMaps ConfigMapData }

// WithConfigMaps lets Run mount the container's ConfigMap volumes: their
// keys become files in a local directory standing for the mount, and
// variables naming the mount or a path under it name that directory
// instead.
func WithConfigMaps(f ConfigMapData) Option { return func(o *runOptions) { o.configMaps = f } }

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
func Run(ctx context.Context, bin string, job *batchv1.Job, workspace string, secret SecretValue, opts ...Option) (string, int, error) {
	c := Container(job)
	if c == nil {
		return "", 0, fmt.Errorf("job %s has no %s container", job.Name, jobs.FetcherContainer)
	}
	var o runOptions
	for _, opt := range opts {
		opt(&o)
	}
	mounted, err := mountConfigMaps(job, c, filepath.Join(workspace, "..", "mounts"), o.configMaps)
	if err != nil {
		return "", 0, err
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
		// The kubelet reads $$ as $: values the function took from an
		// event are escaped that way (jobs.EscapeExpansion), and none of
		// ours references another variable with $(...).
		v := strings.ReplaceAll(e.Value, "$$", "$")
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
		for mountPath, local := range mounted {
			if v == mountPath || strings.HasPrefix(v, mountPath+"/") {
				v = local + strings.TrimPrefix(v, mountPath)
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

// mountConfigMaps writes the ConfigMap volumes c mounts under dir, one
// directory per volume, and returns the local directory of each mount path.
func mountConfigMaps(job *batchv1.Job, c *corev1.Container, dir string, read ConfigMapData) (map[string]string, error) {
	out := map[string]string{}
	for _, m := range c.VolumeMounts {
		var cm *corev1.ConfigMapVolumeSource
		for _, v := range job.Spec.Template.Spec.Volumes {
			if v.Name == m.Name {
				cm = v.ConfigMap
			}
		}
		if cm == nil {
			continue
		}
		if read == nil {
			return nil, fmt.Errorf("volume %s mounts ConfigMap %s: Run needs WithConfigMaps", m.Name, cm.Name)
		}
		data, err := read(cm.Name)
		if err != nil {
			return nil, fmt.Errorf("volume %s: ConfigMap %s: %w", m.Name, cm.Name, err)
		}
		local := filepath.Join(dir, m.Name)
		if err := os.MkdirAll(local, 0o755); err != nil {
			return nil, err
		}
		for k, v := range data {
			if err := os.WriteFile(filepath.Join(local, k), []byte(v), 0o644); err != nil {
				return nil, err
			}
		}
		out[m.MountPath] = local
	}
	return out, nil
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
