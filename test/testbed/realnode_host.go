package testbed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// hostSysctls are the settings the kubelet (setupKernelTunables) and the
// pod network may change; the lane puts each back.
var hostSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom",
	"kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward",
}

// hostPaths are the places outside realNodeDir that containerd, the CNI
// and the kubelet write to whatever their configuration says: the lane
// removes the ones that did not exist before it.
var hostPaths = []string{
	"/run/containerd", "/var/lib/cni", "/var/lib/kubelet", "/opt/containerd",
	"/var/log/pods", "/var/log/containers", "/run/netns", "/etc/cni",
}

// hostChanges is what the lane found before it changed anything, kept in
// realNodeDir/host.json so that a lane killed half-way is undone by the
// next one.
type hostChanges struct {
	Sysctls map[string]string `json:"sysctls"`
	// Created are the hostPaths that did not exist.
	Created []string `json:"created"`
}

func hostRecordPath() string { return filepath.Join(realNodeDir, "host.json") }

func recordHost(dir string) (*hostChanges, error) {
	h := &hostChanges{Sysctls: map[string]string{}}
	for _, s := range hostSysctls {
		v, err := os.ReadFile(filepath.Join("/proc/sys", s))
		if err != nil {
			continue // not in this kernel
		}
		h.Sysctls[s] = strings.TrimSpace(string(v))
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			h.Created = append(h.Created, p)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	data, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	return h, os.WriteFile(hostRecordPath(), data, 0o600)
}

// restore writes the recorded sysctls back and removes the paths the lane
// created.
func (h *hostChanges) restore() error {
	var errs []error
	for s, v := range h.Sysctls {
		path := filepath.Join("/proc/sys", s)
		if cur, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(cur)) == v {
			continue
		}
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", s, v, err))
		}
	}
	for _, p := range h.Created {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// podNetwork creates the pods' bridge with the host's address on it before
// any pod exists, so the stand-in can listen there from the start. The CNI
// bridge plugin finds it and attaches the pods.
func (h *hostChanges) podNetwork() error {
	for _, args := range [][]string{
		{"link", "add", podBridge, "type", "bridge"},
		{"addr", "add", PodBridgeIP + "/24", "dev", podBridge},
		{"link", "set", podBridge, "up"},
	} {
		if out, err := exec.Command("/usr/sbin/ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("testbed: ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// cleanHost ends every process of the lane and undoes what it did to the
// host, whether the lane stopped or was killed; on a clean host it does
// nothing.
func cleanHost(log io.Writer) error {
	var errs []error
	killLane()
	// A killed container's cgroup goes away shortly after its last process.
	errs = append(errs, waitPoll(context.Background(), "see the lane's processes gone", func() bool { return len(laneProcesses()) == 0 }))
	for _, m := range laneMounts() {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	errs = append(errs, removeCgroups())
	if _, err := os.Stat("/sys/class/net/" + podBridge); err == nil {
		if out, err := exec.Command("/usr/sbin/ip", "link", "del", podBridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip link del %s: %w: %s", podBridge, err, out))
		}
	}
	if data, err := os.ReadFile(hostRecordPath()); err == nil {
		var h hostChanges
		if err := json.Unmarshal(data, &h); err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", hostRecordPath(), err))
		} else {
			errs = append(errs, h.restore())
		}
	}
	if err := os.RemoveAll(realNodeDir); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil {
		fmt.Fprintf(log, "testbed: real node cleanup: %v\n", err)
	}
	return err
}

// checkHostClean fails if anything of the lane is left on the host.
func checkHostClean() error {
	var left []string
	for _, pid := range laneProcesses() {
		left = append(left, "process "+strconv.Itoa(pid))
	}
	left = append(left, laneMounts()...)
	left = append(left, laneCgroups()...)
	for _, p := range []string{"/sys/class/net/" + podBridge, realNodeDir} {
		if _, err := os.Lstat(p); err == nil {
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("testbed: the real-node lane left on the host: %s", strings.Join(left, ", "))
	}
	return nil
}

// killLane sends SIGKILL to the kubelet, containerd, its shims and every
// process in the pods' cgroups. The shims are daemons of their own, outside
// the bed's process groups.
func killLane() {
	for _, pid := range laneProcesses() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// laneProcesses are the live processes of the lane: those whose command
// line names realNodeDir (kubelet, containerd, shims) and those in a
// kubepods cgroup (the containers).
func laneProcesses() []int {
	seen := map[int]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if laneProgram(filepath.Base(exe)) && strings.Contains(string(cmdline), realNodeDir) && processAlive(pid) {
			seen[pid] = true
		}
	}
	for _, cg := range laneCgroups() {
		data, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && processAlive(pid) {
				seen[pid] = true
			}
		}
	}
	pids := make([]int, 0, len(seen))
	for pid := range seen {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// laneProgram tells the lane's programs from anything else whose command
// line happens to name its directory (a shell looking at it).
func laneProgram(base string) bool {
	switch base {
	case "kubelet", "containerd", "containerd-shim-runc-v2", "runc", "ctr":
		return true
	}
	return false
}

// laneMounts are the mount points under the lane's directories, deepest
// first.
func laneMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	roots := []string{realNodeDir, "/run/containerd", "/var/lib/kubelet", "/run/netns"}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		for _, r := range roots {
			if mp == r || strings.HasPrefix(mp, r+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// laneCgroups are the kubepods cgroups the kubelet and runc created, in
// every hierarchy, children before parents.
func laneCgroups() []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	var out []string
	for _, r := range roots {
		_ = filepath.WalkDir(r, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, path)
			}
			return nil
		})
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// removeCgroups removes the kubepods cgroups; one whose last process just
// died can be busy for a moment.
func removeCgroups() error {
	var last error
	_ = waitPoll(context.Background(), "remove the kubepods cgroups", func() bool {
		last = nil
		for _, cg := range laneCgroups() {
			if err := syscall.Rmdir(cg); err != nil && !errors.Is(err, syscall.ENOENT) {
				last = fmt.Errorf("remove cgroup %s: %w", cg, err)
			}
		}
		return last == nil
	})
	return last
}
