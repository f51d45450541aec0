package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The bed shared by the tests of one test binary, set by Main.
var (
	sharedMu  sync.Mutex
	shared    *Bed
	sharedErr error
)

// Main is a TestMain for packages with end-to-end tests:
//
//	func TestMain(m *testing.M) { testbed.Main(m) }
//
// It starts one bed for the whole test binary, runs the tests and stops the
// bed, also on SIGINT/SIGTERM. With -short no bed is started and Get skips.
// If the bed fails to start, every test that calls Get fails with the reason.
// It does not return.
func Main(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		sharedErr = errSkip
		os.Exit(m.Run())
	}
	os.Exit(runWithBed(m, Options{Log: os.Stderr}))
}

// MainRealNode is Main for the real-node lane (test/realnode): the bed's
// node is a kubelet with containerd. Unless the lane is asked for
// (RealNodeWanted), no bed starts and every test skips, saying how to turn
// it on; asked for, a missing prerequisite fails every test with what is
// missing.
func MainRealNode(m *testing.M) {
	flag.Parse()
	if testing.Short() || !RealNodeWanted() {
		sharedErr = errSkip
		if !testing.Short() {
			sharedErr = errRealNodeOff
			fmt.Fprintf(os.Stderr, "testbed: skipping the real-node tests: %s\n", RealNodeHowTo)
		}
		os.Exit(m.Run())
	}
	if missing := RealNodePrerequisites(); len(missing) > 0 {
		sharedErr = fmt.Errorf("the real-node lane was asked for (CI=true or REAL_NODE=1) but this host lacks: %s", strings.Join(missing, "; "))
		os.Exit(m.Run())
	}
	os.Exit(runWithBed(m, Options{Log: os.Stderr, RealNode: true}))
}

var errRealNodeOff = errors.New(RealNodeHowTo)

func runWithBed(m *testing.M, opts Options) int {
	start := time.Now()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	bed, err := Start(ctx, opts)
	cancel()
	sharedMu.Lock()
	shared, sharedErr = bed, err
	sharedMu.Unlock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testbed: start failed: %v\n", err)
	} else if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "testbed: up in %s, kubeconfig %s\n", time.Since(start).Round(time.Millisecond), bed.KubeconfigPath())
	}
	stopOnSignal(bed)
	code := m.Run()
	if bed != nil {
		pids := bed.PIDs()
		bed.Stop()
		// Stop reaps what it started; anything alive now is a leak, and
		// leaks fail the run rather than slow down the next one.
		for _, pid := range pids {
			if processAlive(pid) {
				fmt.Fprintf(os.Stderr, "testbed: process %d still running after stop\n", pid)
				code = 1
			}
		}
		if err := bed.RealNodeErr(); err != nil {
			fmt.Fprintf(os.Stderr, "%v\n", err)
			code = 1
		}
	}
	return code
}

var errSkip = errors.New("testbed: not started with -short")

// stopOnSignal stops the bed and exits when the test binary is interrupted,
// so Ctrl-C on `go test` leaves no control plane behind.
func stopOnSignal(bed *Bed) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		if bed != nil {
			bed.Stop()
		}
		fmt.Fprintf(os.Stderr, "testbed: stopped on %v\n", sig)
		os.Exit(2)
	}()
}

// Get returns the shared bed, skipping the test under -short and failing it
// if the bed could not start or Main was not used.
func Get(t testing.TB) *Bed {
	t.Helper()
	sharedMu.Lock()
	bed, err := shared, sharedErr
	sharedMu.Unlock()
	switch {
	case errors.Is(err, errSkip):
		t.Skip("end-to-end test: needs the test bed, not started with -short")
	case errors.Is(err, errRealNodeOff):
		t.Skip(err.Error())
	case err != nil:
		t.Fatalf("test bed unavailable: %v", err)
	case bed == nil:
		t.Fatal("test bed not started: call testbed.Main from TestMain")
	}
	return bed
}

// NamespaceOption adjusts a namespace made by Namespace.
type NamespaceOption func(*corev1.Namespace)

// WithLabels adds labels to the namespace.
func WithLabels(labels map[string]string) NamespaceOption {
	return func(ns *corev1.Namespace) {
		for k, v := range labels {
			ns.Labels[k] = v
		}
	}
}

// Restricted enforces the "restricted" Pod Security Standard in the
// namespace, so pods that are not hardened are refused as in a locked-down
// cluster.
func Restricted() NamespaceOption {
	return WithLabels(map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	})
}

// Namespace creates a fresh namespace for t on the shared bed, waits for its
// default ServiceAccount and deletes it when t ends.
func Namespace(t testing.TB, opts ...NamespaceOption) string {
	t.Helper()
	return Get(t).Namespace(t, opts...)
}

// Namespace creates a fresh namespace for t, named after the test, waits for
// its default ServiceAccount and deletes it when t ends.
func (b *Bed) Namespace(t testing.TB, opts ...NamespaceOption) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   NamespaceName(t.Name(), randomSuffix()),
		Labels: map[string]string{"testbed.local/test": "true"},
	}}
	for _, o := range opts {
		o(ns)
	}
	created, err := b.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		policy := metav1.DeletePropagationBackground
		_ = b.client.CoreV1().Namespaces().Delete(context.Background(), created.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
	})
	if err := b.waitDefaultServiceAccount(ctx, created.Name); err != nil {
		t.Fatal(err)
	}
	return created.Name
}

var notDNSLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// NamespaceName turns a test name and a suffix into a valid namespace name
// (an RFC 1123 label): lower case, runs of other characters as "-", at most
// 63 characters with the suffix kept whole.
func NamespaceName(testName, suffix string) string {
	suffix = strings.Trim(notDNSLabel.ReplaceAllString(strings.ToLower(suffix), "-"), "-")
	if len(suffix) > 20 {
		suffix = suffix[:20]
	}
	base := strings.Trim(notDNSLabel.ReplaceAllString(strings.ToLower(testName), "-"), "-")
	if room := 63 - len(suffix) - 1; len(base) > room {
		base = strings.TrimRight(base[:room], "-")
	}
	if base == "" {
		base = "test"
	}
	if suffix == "" {
		return base
	}
	return base + "-" + suffix
}

func randomSuffix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SetLogs sets the pods/log text of container in namespace on the shared
// bed (see Bed.SetLogs), failing t on error.
func SetLogs(t testing.TB, namespace, container, text string) {
	t.Helper()
	if err := Get(t).SetLogs(context.Background(), namespace, container, text); err != nil {
		t.Fatal(err)
	}
}
