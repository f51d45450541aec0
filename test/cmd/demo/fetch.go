package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
)

// runFetcher runs the real initcontainer binary with the arguments of the
// Job's fetch-files container (kwok does not execute containers), against
// the Keptn stand-in, and lists what landed in the workspace.
func runFetcher(ctx context.Context, p printer, job *batchv1.Job, keptn *keptnstandin.Server) error {
	var fetcher *struct{ args []string }
	for _, c := range job.Spec.Template.Spec.InitContainers {
		if c.Name == jobs.FetcherContainer {
			fetcher = &struct{ args []string }{c.Args}
		}
	}
	if fetcher == nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "demo-workspace-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "initcontainer")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/keptn-sandbox/job-executor-knative/initcontainer")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the initcontainer: %v\n%s", err, out)
	}
	workspace := filepath.Join(dir, "keptn")
	var args []string
	for _, a := range fetcher.args {
		if strings.HasPrefix(a, "--workspace=") {
			a = "--workspace=" + workspace
		}
		args = append(args, a)
	}
	args = append([]string{"--termination-log=" + filepath.Join(dir, "termination-log")}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"KEPTN_API_URL=" + keptn.ResourceServiceURL(), "KEPTN_API_TOKEN=" + keptn.Token()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("the fetcher failed: %v\n%s", err, out)
	}
	p.say("fetch-files (the real initcontainer, run with the Job's args) filled the workspace:")
	return filepath.WalkDir(workspace, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(workspace, path)
		fmt.Printf("           /keptn/%-26s %5d bytes\n", rel, info.Size())
		return nil
	})
}
