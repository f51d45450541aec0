package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The real-node lane: a kubelet built from the k8s.io/kubernetes module
// the bed pins, with Debian's containerd and runc and the CNI plugins,
// runs the containers of the pods the control plane schedules. It changes
// the host (sysctls, cgroups, a bridge, mounts), so it runs only when asked
// (RealNodeWanted) and only as root, one at a time on a machine.
const (
	// RealNodeName is the node the kubelet registers.
	RealNodeName = "real-node-0"
	// PodBridgeIP is the host's address on the pods' bridge: a server the
	// pods must reach (the Keptn stand-in) listens there. The range is
	// link-local: nothing outside this machine is routed to it, and pods get
	// no default route, so they reach this /24 only.
	PodBridgeIP   = "169.254.77.1"
	podBridge     = "jek0"
	podSubnet     = "169.254.77.0/24"
	podRangeStart = "169.254.77.10"
	podRangeEnd   = "169.254.77.250"

	// realNodeDir holds all of the lane's state (containerd's root and
	// state, the kubelet's root, the CNI's IPAM), at a fixed place so that a
	// lane that was killed is found and cleaned by the next one.
	realNodeDir = "/var/lib/jek-realnode"
	// realNodeLock keeps a second lane (or a demo) from sharing the host.
	realNodeLock = "/run/lock/jek-realnode.lock"
)

// Images on the real node, imported into containerd (nothing is pulled).
const (
	// RealPauseImage is the sandbox image: a static Go program that waits.
	RealPauseImage = "jek.local/pause:bed"
	// RealFetcherImage is the initcontainer built from this checkout, what
	// FETCHER_IMAGE names on the real node.
	RealFetcherImage = "jek.local/initcontainer:bed"
	// RealToolsImage is busybox-static with its applets: sh, cat, ls,
	// sleep, tail ... for tasks. Its user is 65532, as distroless nonroot.
	RealToolsImage = "jek.local/tools:bed"
	// RealRootImage is the tools image with user 0, for a task image that
	// expects root.
	RealRootImage = "jek.local/tools-root:bed"
)

// RealNodeWanted tells whether the real-node lane was asked for: CI=true or
// REAL_NODE=1. It never starts by surprise because it changes the host.
func RealNodeWanted() bool {
	return os.Getenv("CI") == "true" || os.Getenv("REAL_NODE") == "1"
}

// RealNodeHowTo says how to turn the lane on, for skip messages.
const RealNodeHowTo = "the real-node lane runs only when asked: as root, with REAL_NODE=1 (or CI=true), after `apt-get install -y containerd runc containernetworking-plugins busybox-static`"

// hostPrograms are the Debian packages' files the lane runs, by package.
var hostPrograms = []struct{ path, pkg string }{
	{"/usr/bin/containerd", "containerd"},
	{"/usr/bin/containerd-shim-runc-v2", "containerd"},
	{"/usr/bin/ctr", "containerd"},
	{"/usr/sbin/runc", "runc"},
	{"/usr/lib/cni/bridge", "containernetworking-plugins"},
	{"/usr/lib/cni/host-local", "containernetworking-plugins"},
	{"/usr/lib/cni/loopback", "containernetworking-plugins"},
	{"/bin/busybox", "busybox-static"},
	{"/usr/sbin/ip", "iproute2"},
}

// RealNodePrerequisites lists what is missing for the lane on this host,
// each with the way to get it; empty means the lane can run.
func RealNodePrerequisites() []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root: the lane runs containerd and a kubelet (run as root, as CI does)")
	}
	for _, p := range hostPrograms {
		if _, err := os.Stat(p.path); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install -y %s)", p.path, p.pkg))
		}
	}
	if out, err := exec.Command("/bin/busybox", "--list").Output(); err == nil && !strings.Contains(string(out), "\nsh\n") {
		missing = append(missing, "/bin/busybox without sh (apt-get install -y busybox-static)")
	}
	return missing
}

// realNode is the lane's state while the bed runs.
type realNode struct {
	dir     string
	unlock  func()
	host    *hostChanges
	kubelet *process
	port    int // the kubelet's HTTPS port
}

// startRealNode takes the host, cleans what a killed lane left, and starts
// containerd with the bed's images, the pod network and the kubelet.
func (b *Bed) startRealNode(ctx context.Context) error {
	if missing := RealNodePrerequisites(); len(missing) > 0 {
		return fmt.Errorf("testbed: the real-node lane needs: %s", strings.Join(missing, "; "))
	}
	unlock, err := lockFile(ctx, realNodeLock)
	if err != nil {
		return err
	}
	rn := &realNode{dir: realNodeDir, unlock: unlock}
	b.real = rn
	if err := cleanHost(b.log); err != nil {
		return fmt.Errorf("testbed: clean what an earlier real-node lane left: %w", err)
	}
	if rn.host, err = recordHost(rn.dir); err != nil {
		return err
	}
	images := make(chan error, 1)
	imageDir := filepath.Join(b.dir, "images")
	go func() { images <- buildImages(ctx, b.src, imageDir, b.log) }()
	if err := rn.host.podNetwork(); err != nil {
		return err
	}
	if err := b.startContainerd(ctx); err != nil {
		return err
	}
	if err := <-images; err != nil {
		return err
	}
	if err := b.importImages(ctx, imageDir); err != nil {
		return err
	}
	return b.startKubelet(ctx)
}

// stopRealNode ends the pods' processes, the kubelet and containerd, and
// puts the host back as it was; what it cannot put back fails the run.
func (b *Bed) stopRealNode() error {
	rn := b.real
	if rn == nil {
		return nil
	}
	defer rn.unlock()
	err := cleanHost(b.log)
	if rn.host != nil {
		err = errors.Join(err, rn.host.restore())
	}
	return errors.Join(err, checkHostClean())
}

// setNodeIP makes 127.0.0.1 the node's InternalIP: the kubelet refuses a
// loopback --node-ip, and the apiserver reaches the kubelet (pods/log) at
// that address. The kubelet runs with --cloud-provider=external, so it
// leaves addresses that are set alone, as it would a cloud controller's;
// the bed plays that controller and lifts its "uninitialized" taint.
func (b *Bed) setNodeIP(ctx context.Context) error {
	nodes := b.client.CoreV1().Nodes()
	return b.waitFor(ctx, b.real.kubelet, "register node "+RealNodeName, func(ctx context.Context) (bool, error) {
		node, err := nodes.Get(ctx, RealNodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not registered yet: poll again
		}
		var taints []corev1.Taint
		for _, t := range node.Spec.Taints {
			if t.Key != cloudUninitializedTaint {
				taints = append(taints, t)
			}
		}
		if len(taints) != len(node.Spec.Taints) {
			node.Spec.Taints = taints
			_, err := nodes.Update(ctx, node, metav1.UpdateOptions{})
			return false, ignoreConflict(err)
		}
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && a.Address == NodeIP {
				return true, nil
			}
		}
		patch := fmt.Sprintf(`{"status":{"addresses":[{"type":"InternalIP","address":%q},{"type":"Hostname","address":%q}]}}`, NodeIP, RealNodeName)
		_, err = nodes.Patch(ctx, RealNodeName, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
		return false, err
	})
}

// cloudUninitializedTaint keeps pods off a node of an external cloud
// provider until its controller has set the node up.
const cloudUninitializedTaint = "node.cloudprovider.kubernetes.io/uninitialized"

func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// waitPoll sleeps between polls of something outside our control (a
// process's state on the host), bounded by ctx.
func waitPoll(ctx context.Context, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed: gave up waiting to %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
