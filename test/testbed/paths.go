package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// SourceDir is the test module's directory (the one holding tools/ and
// cmd/). The builds run there, so it must be a source checkout; the path is
// taken from this file's compile-time location, and JEK_TESTBED_SRC overrides
// it for binaries built with -trimpath.
func SourceDir() (string, error) {
	if dir := os.Getenv("JEK_TESTBED_SRC"); dir != "" {
		return dir, nil
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("testbed: cannot locate the test module's source; set JEK_TESTBED_SRC to its directory")
	}
	dir := filepath.Dir(filepath.Dir(file))
	if _, err := os.Stat(filepath.Join(dir, "tools", "kube", "go.mod")); err != nil {
		return "", fmt.Errorf("testbed: %s is not the test module's source (set JEK_TESTBED_SRC): %w", dir, err)
	}
	return dir, nil
}

// CacheDir is the test bed's directory in the user's cache dir
// ($XDG_CACHE_HOME or ~/.cache on Linux).
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("testbed: no user cache dir: %w", err)
	}
	return filepath.Join(base, "job-executor-knative"), nil
}

func binCacheDir() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "bin"), nil
}

// moduleDir is where the module cache holds mod at version, downloading it
// first if needed (the module proxy is the one network source we may use).
func moduleDir(ctx context.Context, dir, mod, version string) (string, error) {
	out, err := goOutput(ctx, dir, "mod", "download", "-json", mod+"@"+version)
	if err != nil {
		return "", err
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", mod, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", mod, version, info.Error)
	}
	return info.Dir, nil
}
