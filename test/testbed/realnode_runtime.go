package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// containerdConfig is Debian's containerd 1.6 set up for the lane: root,
// state and socket under realNodeDir; cgroupfs (no systemd here); the
// bed's pause image; netns mounts under the state dir; and
// restrict_oom_score_adj, without which runc fails to create the sandbox
// ("can't get final child's PID from pipe: EOF") on hosts that withhold
// CAP_SYS_RESOURCE.
const containerdConfig = `version = 2
root = "{{dir}}/containerd/root"
state = "{{dir}}/containerd/state"

[grpc]
  address = "{{dir}}/containerd/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{dir}}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{pause}}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{{dir}}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "{{dir}}/runc"
`

// cniConfig attaches pods to the bridge the lane made, with addresses from
// the link-local pod range and no gateway: pods reach the host's address
// on the bridge and nothing else. containerd adds the loopback itself.
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "jek-pods",
  "plugins": [{
    "type": "bridge",
    "bridge": "{{bridge}}",
    "isGateway": false,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "dataDir": "{{dir}}/cni/ipam",
      "ranges": [[{"subnet": "{{subnet}}", "rangeStart": "{{start}}", "rangeEnd": "{{end}}"}]]
    }
  }]
}
`

func (rn *realNode) socket() string { return filepath.Join(rn.dir, "containerd", "containerd.sock") }

func (b *Bed) startContainerd(ctx context.Context) error {
	rn := b.real
	r := strings.NewReplacer("{{dir}}", rn.dir, "{{pause}}", RealPauseImage, "{{bridge}}", podBridge,
		"{{subnet}}", podSubnet, "{{start}}", podRangeStart, "{{end}}", podRangeEnd)
	files := map[string]string{
		filepath.Join(rn.dir, "containerd.toml"):                      r.Replace(containerdConfig),
		filepath.Join(rn.dir, "cni", "net.d", "10-jek-pods.conflist"): r.Replace(cniConfig),
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	p, err := b.run("containerd", "/usr/bin/containerd", nil, "--config", filepath.Join(rn.dir, "containerd.toml"))
	if err != nil {
		return err
	}
	return b.waitFor(ctx, p, "serve on "+rn.socket(), func(ctx context.Context) (bool, error) {
		return exec.CommandContext(ctx, "/usr/bin/ctr", "--address", rn.socket(), "version").Run() == nil, nil
	})
}

// importImages loads the image tarballs into the namespace the CRI uses.
func (b *Bed) importImages(ctx context.Context, dir string) error {
	tars, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return err
	}
	for _, t := range tars {
		out, err := exec.CommandContext(ctx, "/usr/bin/ctr", "--address", b.real.socket(), "-n", "k8s.io", "images", "import", t).CombinedOutput()
		if err != nil {
			return fmt.Errorf("testbed: ctr images import %s: %w: %s", t, err, out)
		}
	}
	return nil
}
