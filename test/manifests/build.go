package manifests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Build runs `kustomize build dir` in-process and decodes its output
// strictly, in the order kustomize emits it (the order of the resources
// lists, which puts Namespaces and ServiceAccounts first).
func Build(dir string) ([]Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []Object
	for i, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
		}
		o, err := Decode(fmt.Sprintf("kustomize build %s: object %d", dir, i+1), y)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// RepoRoot is the product repository's root (the parent of the test
// module), found from this file's compile-time path; JEK_REPO_ROOT
// overrides it for binaries built with -trimpath.
func RepoRoot() (string, error) {
	if dir := os.Getenv("JEK_REPO_ROOT"); dir != "" {
		return dir, nil
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("manifests: cannot locate the repository; set JEK_REPO_ROOT")
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	if _, err := os.Stat(filepath.Join(root, "config", "knative", "kustomization.yaml")); err != nil {
		return "", fmt.Errorf("manifests: %s is not the repository root (set JEK_REPO_ROOT): %w", root, err)
	}
	return root, nil
}
