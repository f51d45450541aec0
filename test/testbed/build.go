package testbed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Versions of the parts that are not pinned by a go.mod in this repository.
const (
	// KwokVersion is the sigs.k8s.io/kwok release installed with go install.
	KwokVersion = "v0.7.0"
	// ServingVersion is the knative.dev/serving release whose CRDs are
	// installed; it is the Serving release of the same Knative version as the
	// eventing module the test module requires.
	ServingVersion = "v0.47.0"
)

// firstBuildEstimate is what the first build took here (see README.md).
const firstBuildEstimate = "20-35 minutes"

// funcCheckBuildEstimate is what the first build of funcyaml-check takes on 2
// idle cores: 7.4 CPU-minutes measured (see README.md).
const funcCheckBuildEstimate = "4-5 minutes"

// lintBuildEstimate is what the first build of golangci-lint takes on 2
// idle cores (see README.md).
const lintBuildEstimate = "2-3 minutes"

// cosignBuildEstimate is what the first build of one cosign CLI takes on 2
// cores (see README.md).
const cosignBuildEstimate = "5-8 minutes"

// Binaries are the absolute paths of every program the test bed runs.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string
	Scheduler         string
	Kwok              string
	Adapter           string
	// Kubelet runs the real-node lane's containers (Options.RealNode).
	Kubelet string
	// BrokerIngress and BrokerFilter are Knative's MTChannelBasedBroker
	// data plane (cmd/broker-ingress, cmd/broker-filter).
	BrokerIngress string
	BrokerFilter  string
}

// component is one cached build: its binaries land in
// <cache>/bin/<name>-<version>-<go version>-<hash of inputs>/.
type component struct {
	name    string
	version string
	// inputs are repository files whose content is part of the cache key, so
	// an edited main or go.mod rebuilds even at an unchanged version.
	inputs []string
	bins   []string
	build  func(ctx context.Context, out string, log io.Writer) error
}

// EnsureBinaries returns the test bed's programs, building the ones missing
// from the cache. Builds are serialised across processes with a file lock, so
// parallel test binaries build once and then share the result.
func EnsureBinaries(ctx context.Context, log io.Writer) (Binaries, error) {
	src, err := SourceDir()
	if err != nil {
		return Binaries{}, err
	}
	goVersion, err := goOutput(ctx, src, "env", "GOVERSION")
	if err != nil {
		return Binaries{}, err
	}
	comps, err := components(ctx, src)
	if err != nil {
		return Binaries{}, err
	}
	root, err := binCacheDir()
	if err != nil {
		return Binaries{}, err
	}
	unlock, err := lockFile(ctx, filepath.Join(root, ".lock"))
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()

	paths := map[string]string{}
	announced := false
	for _, c := range comps {
		key, err := c.key(goVersion)
		if err != nil {
			return Binaries{}, err
		}
		dir := filepath.Join(root, key)
		if !hasAll(dir, c.bins) {
			if !announced {
				fmt.Fprintf(log, "testbed: building the control plane from Go modules into %s; the first build takes about %s on 2 cores\n", root, firstBuildEstimate)
				announced = true
			}
			if err := buildInto(ctx, c, dir, log); err != nil {
				return Binaries{}, err
			}
		}
		for _, b := range c.bins {
			paths[b] = filepath.Join(dir, b)
		}
	}
	return Binaries{
		Etcd:              paths["etcd"],
		APIServer:         paths["kube-apiserver"],
		ControllerManager: paths["kube-controller-manager"],
		Scheduler:         paths["kube-scheduler"],
		Kwok:              paths["kwok"],
		Kubelet:           paths["kubelet"],
		Adapter:           paths["apiserver-receive-adapter"],
		BrokerIngress:     paths["broker-ingress"],
		BrokerFilter:      paths["broker-filter"],
	}, nil
}

// FuncYAMLCheck returns the path of funcyaml-check (tools/func: kn func's
// own loader and validation of a func.yaml), building it into the binary
// cache on first use.
func FuncYAMLCheck(ctx context.Context, log io.Writer) (string, error) {
	return toolBinary(ctx, log, tool{
		name:     "funcyaml-check",
		dir:      "func",
		module:   "knative.dev/func",
		pkg:      ".",
		inputs:   []string{"go.mod", "go.sum", "main.go"},
		estimate: funcCheckBuildEstimate,
	})
}

// GolangciLint returns the path of golangci-lint, built from the version
// tools/lint pins (its go.mod's tool directive) into the binary cache on
// first use. `make lint` runs it.
func GolangciLint(ctx context.Context, log io.Writer) (string, error) {
	return toolBinary(ctx, log, tool{
		name:     "golangci-lint",
		dir:      "lint",
		module:   "github.com/golangci/golangci-lint/v2",
		pkg:      "github.com/golangci/golangci-lint/v2/cmd/golangci-lint",
		inputs:   []string{"go.mod", "go.sum"},
		estimate: lintBuildEstimate,
		// A binary built as a dependency reports our module's version
		// ("(devel)"); the release build stamps these, and a non-empty date
		// makes golangci-lint keep them.
		ldflags: func(version string) string {
			return "-X main.version=" + strings.TrimPrefix(version, "v") + " -X main.commit=go-module -X main.date=unknown"
		},
	})
}

// Cosign3 returns the path of the cosign v3 CLI (tools/cosign3), which
// signs as cosign does today: a sigstore bundle stored as an OCI referrer.
// Built into the binary cache on first use.
func Cosign3(ctx context.Context, log io.Writer) (string, error) { return cosign(ctx, log, "v3") }

// Cosign2 returns the path of the cosign v2 CLI (tools/cosign2), which
// signs in cosign's legacy layout (a sha256-<digest>.sig tag).
func Cosign2(ctx context.Context, log io.Writer) (string, error) { return cosign(ctx, log, "v2") }

func cosign(ctx context.Context, log io.Writer, major string) (string, error) {
	module := "github.com/sigstore/cosign/" + major
	return toolBinary(ctx, log, tool{
		name:     "cosign",
		dir:      "cosign" + strings.TrimPrefix(major, "v"),
		module:   module,
		pkg:      module + "/cmd/cosign",
		inputs:   []string{"go.mod", "go.sum"},
		estimate: cosignBuildEstimate,
	})
}

// tool is one program of a nested module under tools/ that the tests or the
// Makefile run, rather than the bed.
type tool struct {
	name string
	// dir is the nested module's directory under tools/.
	dir string
	// module is the pinned module whose version names the cache directory.
	module string
	// pkg is the main package to build, "." for the nested module's own.
	pkg string
	// inputs are the nested module's files hashed into the cache key.
	inputs   []string
	estimate string
	ldflags  func(version string) string
}

// toolBinary builds t into the binary cache as EnsureBinaries builds the
// bed's programs, under a lock of its own, so it never waits for a
// control-plane build in another process.
func toolBinary(ctx context.Context, log io.Writer, t tool) (string, error) {
	src, err := SourceDir()
	if err != nil {
		return "", err
	}
	goVersion, err := goOutput(ctx, src, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(src, "tools", t.dir)
	version, err := moduleVersion(ctx, dir, t.module)
	if err != nil {
		return "", err
	}
	c := component{
		name:    t.name,
		version: version,
		bins:    []string{t.name},
		build: func(ctx context.Context, out string, log io.Writer) error {
			args := []string{"build", "-o", filepath.Join(out, t.name)}
			if t.ldflags != nil {
				args = append(args, "-ldflags", t.ldflags(version))
			}
			return goRun(ctx, dir, nil, log, append(args, t.pkg)...)
		},
	}
	for _, in := range t.inputs {
		c.inputs = append(c.inputs, filepath.Join(dir, in))
	}
	root, err := binCacheDir()
	if err != nil {
		return "", err
	}
	key, err := c.key(goVersion)
	if err != nil {
		return "", err
	}
	out := filepath.Join(root, key)
	if !hasAll(out, c.bins) {
		unlock, err := lockFile(ctx, filepath.Join(root, ".lock-"+t.name))
		if err != nil {
			return "", err
		}
		defer unlock()
		if !hasAll(out, c.bins) {
			fmt.Fprintf(log, "testbed: building %s (%s %s) into %s; the first build takes about %s on 2 cores\n", t.name, t.module, version, root, t.estimate)
			if err := buildInto(ctx, c, out, log); err != nil {
				return "", err
			}
		}
	}
	return filepath.Join(out, t.name), nil
}

// components describes the five builds. Versions come from the go.mod files
// that pin them, so the cache key follows a version bump without code changes.
func components(ctx context.Context, src string) ([]component, error) {
	kubeDir := filepath.Join(src, "tools", "kube")
	etcdDir := filepath.Join(src, "tools", "etcd")
	kubeVersion, err := moduleVersion(ctx, kubeDir, "k8s.io/kubernetes")
	if err != nil {
		return nil, err
	}
	etcdVersion, err := moduleVersion(ctx, etcdDir, "go.etcd.io/etcd/server/v3")
	if err != nil {
		return nil, err
	}
	// Eventing's programs are built in their own module (tools/eventing:
	// with the test module's requirements they panic at start), keyed by
	// its go.mod and go.sum, so a changed dependency rebuilds them.
	eventingDir := filepath.Join(src, "tools", "eventing")
	eventingVersion, err := moduleVersion(ctx, eventingDir, "knative.dev/eventing")
	if err != nil {
		return nil, err
	}
	pkgVersion, err := moduleVersion(ctx, eventingDir, "knative.dev/pkg")
	if err != nil {
		return nil, err
	}
	eventingInputs := func(mains ...string) []string {
		in := []string{filepath.Join(eventingDir, "go.mod"), filepath.Join(eventingDir, "go.sum")}
		for _, m := range mains {
			in = append(in, filepath.Join(eventingDir, "cmd", m, "main.go"))
		}
		return in
	}
	// The kubelet is the real-node lane's; it shares most packages with
	// the control plane, so building it alongside costs little.
	kubeMains := []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}
	kubeInputs := []string{filepath.Join(kubeDir, "go.mod"), filepath.Join(kubeDir, "go.sum")}
	for _, m := range kubeMains {
		kubeInputs = append(kubeInputs, filepath.Join(kubeDir, "cmd", m, "main.go"))
	}
	return []component{{
		name:    "kube",
		version: kubeVersion,
		inputs:  kubeInputs,
		bins:    kubeMains,
		build: func(ctx context.Context, out string, log io.Writer) error {
			return goRun(ctx, kubeDir, nil, log, "build", "-ldflags", kubeLDFlags(kubeVersion), "-o", out+string(filepath.Separator), "./cmd/...")
		},
	}, {
		name:    "etcd",
		version: etcdVersion,
		inputs:  []string{filepath.Join(etcdDir, "go.mod"), filepath.Join(etcdDir, "go.sum"), filepath.Join(etcdDir, "main.go")},
		bins:    []string{"etcd"},
		build: func(ctx context.Context, out string, log io.Writer) error {
			return goRun(ctx, etcdDir, nil, log, "build", "-o", filepath.Join(out, "etcd"), ".")
		},
	}, {
		name:    "kwok",
		version: KwokVersion,
		bins:    []string{"kwok"},
		build: func(ctx context.Context, out string, log io.Writer) error {
			// go install pkg@version ignores the surrounding module, so any
			// directory works; GOBIN puts the binary straight into the cache.
			return goRun(ctx, out, []string{"GOBIN=" + out}, log, "install", "sigs.k8s.io/kwok/cmd/kwok@"+KwokVersion)
		},
	}, {
		name:    "adapter",
		version: "eventing-" + eventingVersion + "-pkg-" + pkgVersion,
		inputs:  eventingInputs("apiserver-receive-adapter"),
		bins:    []string{"apiserver-receive-adapter"},
		build: func(ctx context.Context, out string, log io.Writer) error {
			return goRun(ctx, eventingDir, nil, log, "build", "-o", filepath.Join(out, "apiserver-receive-adapter"), "./cmd/apiserver-receive-adapter")
		},
	}, {
		// Keyed like the adapter.
		name:    "broker",
		version: "eventing-" + eventingVersion + "-pkg-" + pkgVersion,
		inputs:  eventingInputs("broker-ingress", "broker-filter"),
		bins:    []string{"broker-ingress", "broker-filter"},
		build: func(ctx context.Context, out string, log io.Writer) error {
			return goRun(ctx, eventingDir, nil, log, "build", "-o", out+string(filepath.Separator), "./cmd/broker-ingress", "./cmd/broker-filter")
		},
	}}, nil
}

// kubeLDFlags stamps the release into the binaries as the upstream release
// build does, so /version reports v1.37.2 rather than v0.0.0-master.
func kubeLDFlags(version string) string {
	v := strings.TrimPrefix(version, "v")
	parts := strings.SplitN(v, ".", 3)
	pkg := "k8s.io/component-base/version"
	flags := []string{"-X " + pkg + ".gitVersion=" + version, "-X " + pkg + ".gitTreeState=clean"}
	if len(parts) >= 2 {
		flags = append(flags, "-X "+pkg+".gitMajor="+parts[0], "-X "+pkg+".gitMinor="+parts[1])
	}
	return strings.Join(flags, " ")
}

func (c component) key(goVersion string) (string, error) {
	h := sha256.New()
	for _, in := range c.inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			return "", fmt.Errorf("hash build input of %s: %w", c.name, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(in), len(data))
		h.Write(data)
	}
	return cacheKey(c.name, c.version, goVersion, hex.EncodeToString(h.Sum(nil))[:12]), nil
}

// cacheKey joins the parts of a cache directory name, replacing anything that
// is not safe in a file name.
func cacheKey(parts ...string) string {
	joined := strings.Join(parts, "-")
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, joined)
}

func buildInto(ctx context.Context, c component, dir string, log io.Writer) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(log, "testbed: building %s %s\n", c.name, c.version)
	start := time.Now()
	if err := c.build(ctx, tmp, log); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("build %s %s: %w", c.name, c.version, err)
	}
	if !hasAll(tmp, c.bins) {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("build %s %s: expected binaries %v in %s", c.name, c.version, c.bins, tmp)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("install %s build: %w", c.name, err)
	}
	fmt.Fprintf(log, "testbed: built %s in %s\n", c.name, time.Since(start).Round(time.Second))
	return nil
}

func hasAll(dir string, bins []string) bool {
	for _, b := range bins {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// moduleVersion is the version of mod selected by the module in dir.
func moduleVersion(ctx context.Context, dir, mod string) (string, error) {
	v, err := goOutput(ctx, dir, "list", "-m", "-f", "{{.Version}}", mod)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("module %s has no version in %s", mod, dir)
	}
	return v, nil
}

func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s (in %s): %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func goRun(ctx context.Context, dir string, env []string, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off"), env...)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s (in %s): %w", strings.Join(args, " "), dir, err)
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting for other holders, and
// returns the release function. The kernel drops the lock if we die.
func lockFile(ctx context.Context, path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
