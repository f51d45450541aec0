package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/test/fetcher"
	"github.com/keptn-sandbox/job-executor-knative/test/keptnstandin"
)

// runFetcher runs the real initcontainer binary with the Job's fetch-files
// container (kwok does not execute containers) against the Keptn stand-in,
// and lists what landed in the workspace.
func runFetcher(ctx context.Context, p printer, job *batchv1.Job, keptn *keptnstandin.Server, opts ...fetcher.Option) error {
	if fetcher.Container(job) == nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "demo-workspace-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := fetcher.Build(ctx, dir)
	if err != nil {
		return err
	}
	workspace := filepath.Join(dir, "keptn")
	token := func(string, string) (string, error) {
		if keptn == nil {
			return "", errors.New("no Keptn token in the generic mode")
		}
		return keptn.Token(), nil
	}
	out, code, err := fetcher.Run(ctx, bin, job, workspace, token, opts...)
	if err != nil || code != 0 {
		return fmt.Errorf("the fetcher failed (exit %d): %v\n%s", code, err, out) //nolint:errorlint // err may be nil: it is shown, not wrapped
	}
	tree, err := fetcher.Tree(workspace)
	if err != nil {
		return err
	}
	p.say("fetch-files (the real initcontainer, run with the Job's args) filled the workspace:")
	for _, name := range slices.Sorted(maps.Keys(tree)) {
		fmt.Printf("           /keptn/%-26s %5d bytes\n", name, len(tree[name]))
	}
	return nil
}
