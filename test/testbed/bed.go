// Package testbed runs a local Kubernetes control plane for end-to-end tests:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from
// their Go modules, and kwok simulating one node and its kubelet. Everything
// listens on 127.0.0.1 at ports chosen at start, so beds never collide.
//
// Tests use it through Main (a TestMain helper), Get and Namespace; the
// testbed command (test/cmd/testbed) runs the same bed for people.
package testbed

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Addresses inside 127.0.0.0/8 for what a real cluster would route: the
// node, its pods and its services. Nothing here ever leaves loopback.
const (
	NodeName    = "kwok-node-0"
	NodeIP      = "127.0.0.1"
	PodCIDR     = "127.1.0.0/16"
	ServiceCIDR = "127.2.0.0/16"
)

// Options configure Start.
type Options struct {
	// Dir holds the bed's files (certificates, kubeconfig, etcd data, logs).
	// Empty means a new temporary directory, removed by Stop.
	Dir string
	// Log receives progress messages; nil discards them.
	Log io.Writer
	// RealNode runs a kubelet with containerd (the real-node lane, see
	// realnode.go) instead of kwok: pods' containers really run. It needs
	// root and changes the host until Stop.
	RealNode bool
}

// Bed is a running control plane. Its methods are safe for concurrent use.
type Bed struct {
	dir, kubeconfig string
	ownDir          bool
	log             io.Writer
	bins            Binaries
	pki             *pki
	src             string // the test module's source directory

	config  *rest.Config
	client  kubernetes.Interface
	dynamic dynamic.Interface
	mapper  *restmapper.DeferredDiscoveryRESTMapper

	mu      sync.Mutex
	procs   []*process
	stopped bool
	logs    *logRules

	brokerMu sync.Mutex
	broker   *BrokerPlane

	// real is the real node, when Options.RealNode.
	real       *realNode
	realWanted bool
	// realErr is what the real node's cleanup could not undo.
	realErr error
}

// Start builds what is missing, starts the control plane and returns once a
// pod can be scheduled and run on the kwok node. On error everything started
// so far is stopped again.
func Start(ctx context.Context, opts Options) (_ *Bed, err error) {
	b := &Bed{log: opts.Log, dir: opts.Dir, realWanted: opts.RealNode}
	if b.log == nil {
		b.log = io.Discard
	}
	if b.src, err = SourceDir(); err != nil {
		return nil, err
	}
	if b.bins, err = EnsureBinaries(ctx, b.log); err != nil {
		return nil, err
	}
	if b.dir == "" {
		sweepStaleDirs()
		if b.dir, err = newOwnedDir(); err != nil {
			return nil, err
		}
		b.ownDir = true
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.Stop()
		}
	}()
	b.logs = newLogRules(filepath.Join(b.dir, "pod-logs"))
	if err := b.start(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bed) start(ctx context.Context) error {
	// Module directories come from the go command; look them up while etcd
	// and the apiserver start.
	dirs := b.lookupModuleDirs(ctx)

	var err error
	if b.pki, err = newPKI(filepath.Join(b.dir, "pki")); err != nil {
		return err
	}
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeerPort)
	etcd, err := b.run("etcd", b.bins.Etcd, nil,
		"--name=testbed",
		"--data-dir="+filepath.Join(b.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testbed="+peerURL,
		// The data dies with the bed; fsync only costs time.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	if err := b.waitHTTP(ctx, etcd, etcdURL+"/health", nil); err != nil {
		return err
	}

	apiURL := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	apiserver, err := b.run("kube-apiserver", b.bins.APIServer, nil,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+b.pki.ServingCert, "--tls-private-key-file="+b.pki.ServingKey,
		"--client-ca-file="+b.pki.CACert,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+b.pki.SAPublic,
		"--service-account-signing-key-file="+b.pki.ServiceAccountKey,
		"--service-cluster-ip-range="+ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		// The apiserver reaches the node's kubelet (kwok) for pods/log.
		"--kubelet-client-certificate="+b.pki.AdminCert, "--kubelet-client-key="+b.pki.AdminKey,
		"--kubelet-preferred-address-types=InternalIP",
		// The lease reconciler rejects a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(b.dir, "apiserver"),
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	if err := b.waitHTTP(ctx, apiserver, apiURL+"/readyz", b.adminTLS()); err != nil {
		return err
	}
	if err := b.connect(apiURL); err != nil {
		return err
	}

	d := <-dirs
	if d.err != nil {
		return d.err
	}
	kcm, err := b.run("kube-controller-manager", b.bins.ControllerManager, nil,
		"--kubeconfig="+b.kubeconfig,
		"--authentication-kubeconfig="+b.kubeconfig, "--authorization-kubeconfig="+b.kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort),
		"--tls-cert-file="+b.pki.ServingCert, "--tls-private-key-file="+b.pki.ServingKey,
		"--leader-elect=false",
		"--service-account-private-key-file="+b.pki.ServiceAccountKey,
		"--root-ca-file="+b.pki.CACert,
		"--cluster-signing-cert-file="+b.pki.CACert, "--cluster-signing-key-file="+b.pki.CAKey,
		// The node lifecycle controller lifts the node's not-ready taint;
		// a shorter period makes that happen sooner after kwok reports Ready.
		"--node-monitor-period=1s",
		// Many-Jobs benchmarks create thousands of pods: the default client
		// limit (20 QPS) would make the Job controller the bottleneck of the
		// setup, not of what is measured (docs/benchmarks.md).
		"--kube-api-qps=200", "--kube-api-burst=400",
		// ... and its 5 default workers, each waiting on a round trip,
		// would too.
		"--concurrent-job-syncs=50",
		"--controllers=*",
	)
	if err != nil {
		return err
	}
	sched, err := b.run("kube-scheduler", b.bins.Scheduler, nil,
		"--kubeconfig="+b.kubeconfig,
		"--authentication-kubeconfig="+b.kubeconfig, "--authorization-kubeconfig="+b.kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedPort),
		"--tls-cert-file="+b.pki.ServingCert, "--tls-private-key-file="+b.pki.ServingKey,
		"--leader-elect=false",
	)
	if err != nil {
		return err
	}
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // self-signed loopback endpoints, only probed for liveness
	for _, w := range []struct {
		p   *process
		url string
	}{
		{kcm, "https://127.0.0.1:" + strconv.Itoa(kcmPort) + "/healthz"},
		{sched, "https://127.0.0.1:" + strconv.Itoa(schedPort) + "/healthz"},
	} {
		if err := b.waitHTTP(ctx, w.p, w.url, insecure); err != nil {
			return err
		}
	}
	if err := b.installCRDs(ctx, knativeCRDFiles(d.eventing, d.serving)); err != nil {
		return err
	}
	if b.realWanted {
		if err := b.startRealNode(ctx); err != nil {
			return err
		}
	} else if err := b.startKwok(ctx, d.kwok, kwokPort); err != nil {
		return err
	}
	return b.waitDefaultServiceAccount(ctx, "default")
}

// startKwok starts kwok simulating the node NodeName and its kubelet, and
// waits until pods can be scheduled there.
func (b *Bed) startKwok(ctx context.Context, kwokDir string, kwokPort int) error {
	if err := b.installCRDs(ctx, kwokCRDFiles(kwokDir)); err != nil {
		return err
	}
	config, err := kwokConfig(kwokDir)
	if err != nil {
		return err
	}
	kwokConfigPath := filepath.Join(b.dir, "kwok.yaml")
	if err := os.WriteFile(kwokConfigPath, config, 0o644); err != nil {
		return err
	}
	if err := b.createNode(ctx); err != nil {
		return err
	}
	kwokAddr := "127.0.0.1:" + strconv.Itoa(kwokPort)
	args := []string{
		"--kubeconfig=" + b.kubeconfig,
		"--config=" + kwokConfigPath,
		"--manage-single-node=" + NodeName,
		"--node-ip=" + NodeIP, "--node-port=" + strconv.Itoa(kwokPort),
		"--server-address=" + kwokAddr,
		"--tls-cert-file=" + b.pki.ServingCert, "--tls-private-key-file=" + b.pki.ServingKey,
		"--cidr=" + PodCIDR,
		// Log rules are created per test at run time (SetLogs).
		"--enable-crds=ClusterLogs,Logs",
	}
	run, err := b.startKwokUntilHealthy(ctx, args, "https://"+kwokAddr+"/healthz")
	if err != nil {
		return err
	}
	go b.keepKwok(run, args)
	return b.waitNodeSchedulable(ctx, NodeName)
}

type moduleDirs struct {
	kwok, eventing, serving string
	err                     error
}

func (b *Bed) lookupModuleDirs(ctx context.Context) <-chan moduleDirs {
	ch := make(chan moduleDirs, 1)
	go func() {
		var d moduleDirs
		tmp := os.TempDir()
		if d.kwok, d.err = moduleDir(ctx, tmp, "sigs.k8s.io/kwok", KwokVersion); d.err == nil {
			if d.eventing, d.err = goOutput(ctx, b.src, "list", "-m", "-f", "{{.Dir}}", "knative.dev/eventing"); d.err == nil {
				d.serving, d.err = moduleDir(ctx, tmp, "knative.dev/serving", ServingVersion)
			}
		}
		ch <- d
	}()
	return ch
}

// run starts one component, logging to <dir>/logs/<name>.log.
func (b *Bed) run(name, bin string, env []string, args ...string) (*process, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil, errors.New("testbed: stopped")
	}
	if err := os.MkdirAll(filepath.Dir(b.logPath(name)), 0o755); err != nil {
		return nil, err
	}
	p, err := startProcess(name, bin, args, env, b.logPath(name))
	if err != nil {
		return nil, err
	}
	b.procs = append(b.procs, p)
	return p, nil
}

// logPath is where the component name logs.
func (b *Bed) logPath(name string) string { return filepath.Join(b.dir, "logs", name+".log") }

// Stop ends every process the bed started (its adapters too) and removes
// its directory if Start created it. It is safe to call more than once.
func (b *Bed) Stop() {
	b.mu.Lock()
	procs := b.procs
	already := b.stopped
	b.stopped = true
	b.mu.Unlock()
	if already {
		return
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(3 * time.Second) })
	}
	wg.Wait()
	// The real node's mounts and processes go before its directory does.
	b.realErr = b.stopRealNode()
	if b.ownDir {
		_ = os.RemoveAll(b.dir)
	}
}

// RealNodeErr is what stopping the real node could not undo on the host
// (nil without a real node); valid after Stop.
func (b *Bed) RealNodeErr() error { return b.realErr }

// RealNode tells whether the bed's node is a kubelet running containers.
func (b *Bed) RealNode() bool { return b.real != nil }

// PIDs are the process ids of everything the bed started, running or not.
func (b *Bed) PIDs() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	pids := make([]int, 0, len(b.procs))
	for _, p := range b.procs {
		pids = append(pids, p.pid())
	}
	return pids
}

// Dir is the directory holding the bed's files; logs/ has each component's
// output.
func (b *Bed) Dir() string { return b.dir }

// KubeconfigPath is an admin (system:masters) kubeconfig for the bed.
func (b *Bed) KubeconfigPath() string { return b.kubeconfig }

// RESTConfig is a copy of the admin client configuration.
func (b *Bed) RESTConfig() *rest.Config { return rest.CopyConfig(b.config) }

// Client is an admin clientset.
func (b *Bed) Client() kubernetes.Interface { return b.client }

// Dynamic is an admin dynamic client.
func (b *Bed) Dynamic() dynamic.Interface { return b.dynamic }

func (b *Bed) connect(apiURL string) error {
	b.kubeconfig = filepath.Join(b.dir, "kubeconfig")
	if err := writeKubeconfig(b.kubeconfig, apiURL, b.pki); err != nil {
		return err
	}
	b.config = &rest.Config{
		Host: apiURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   b.pki.caPEM,
			CertData: b.pki.adminCertPEM,
			KeyData:  b.pki.adminKeyPEM,
		},
		QPS:   200,
		Burst: 400,
	}
	var err error
	if b.client, err = kubernetes.NewForConfig(b.config); err != nil {
		return err
	}
	if b.dynamic, err = dynamic.NewForConfig(b.config); err != nil {
		return err
	}
	b.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(b.client.Discovery()))
	return nil
}

func (b *Bed) adminTLS() *tls.Config {
	cert, err := tls.X509KeyPair(b.pki.adminCertPEM, b.pki.adminKeyPEM)
	if err != nil {
		panic(err) // we generated the pair ourselves
	}
	pool, err := certPool(b.pki.caPEM)
	if err != nil {
		panic(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// waitHTTP polls url until it answers 200, failing early if p exits.
func (b *Bed) waitHTTP(ctx context.Context, p *process, url string, tlsConfig *tls.Config) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	return b.waitFor(ctx, p, "answer "+url, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil //nolint:nilerr // not up yet: poll again
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// startTimeout bounds each wait during start-up; a component that is not
// ready by then is broken, not slow.
const startTimeout = 2 * time.Minute

// waitFor polls cond until it holds. If p is given and exits, the wait fails
// with the end of p's log, which is where the reason is.
func (b *Bed) waitFor(ctx context.Context, p *process, what string, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if p != nil {
			if done, err := p.exited(); done {
				return fmt.Errorf("testbed: %s exited (%v) before it could %s; end of %s:\n%s", p.name, err, what, p.logPath, tail(p.logPath, 30)) //nolint:errorlint // err may be nil: it is shown, not wrapped
			}
		}
		ok, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("testbed: wait to %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("testbed: gave up waiting to %s: %v", what, ctx.Err())
			if p != nil {
				msg += fmt.Sprintf("; end of %s:\n%s", p.logPath, tail(p.logPath, 30))
			}
			return errors.New(msg)
		case <-tick.C:
		}
	}
}

func (b *Bed) createNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux",
				"kubernetes.io/arch": "amd64", "type": "kwok",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: PodCIDR, PodCIDRs: []string{PodCIDR}},
		Status: corev1.NodeStatus{
			Capacity:    nodeResources(),
			Allocatable: nodeResources(),
			NodeInfo:    corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux", KubeletVersion: "kwok-" + KwokVersion},
		},
	}
	_, err := b.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("testbed: create node: %w", err)
	}
	return nil
}

func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		// Room for the scale benchmark's 5,000 running Jobs
		// (docs/benchmarks.md) at the function's default requests: with 64
		// CPUs the scheduler placed 1,280 pods of 50m and no more.
		corev1.ResourceCPU:              mustQuantity("2000"),
		corev1.ResourceMemory:           mustQuantity("16Ti"),
		corev1.ResourcePods:             mustQuantity("10000"),
		corev1.ResourceEphemeralStorage: mustQuantity("64Ti"),
	}
}

// waitNodeSchedulable waits until the node is Ready and carries no taint
// that keeps pods off it (the node lifecycle controller removes the
// not-ready taint once kwok or the kubelet reports Ready).
func (b *Bed) waitNodeSchedulable(ctx context.Context, name string) error {
	return b.waitFor(ctx, nil, "see node "+name+" Ready without taints", func(ctx context.Context) (bool, error) {
		node, err := b.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not up yet: poll again
		}
		for _, t := range node.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
				return false, nil
			}
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// waitDefaultServiceAccount waits for the controller-manager to create the
// namespace's default ServiceAccount; pods are refused until it exists.
func (b *Bed) waitDefaultServiceAccount(ctx context.Context, ns string) error {
	return b.waitFor(ctx, nil, "see the default ServiceAccount in "+ns, func(ctx context.Context) (bool, error) {
		_, err := b.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = f.Close() }()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
