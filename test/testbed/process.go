package testbed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// process is one program the bed started. Each runs in its own process group
// (so a stop reaches anything it forks and a terminal's Ctrl-C reaches only
// us, who then tear down in order) and with a parent-death signal (so a test
// binary that panics or is killed takes its control plane with it).
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // valid after done is closed

	stopOnce sync.Once
}

// spawnRequests are served by one goroutine locked to its OS thread. Linux
// delivers Pdeathsig when the *thread* that forked the child exits; Go may
// retire idle threads, so forking from a thread that lives as long as the
// process makes the signal mean "the test binary died".
var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

type spawnRequest struct {
	cmd   *exec.Cmd
	reply chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread must not exit
			for r := range spawnRequests {
				r.reply <- r.cmd.Start()
			}
		}()
	})
	reply := make(chan error)
	spawnRequests <- spawnRequest{cmd: cmd, reply: reply}
	return <-reply
}

// startProcess runs bin with args and env (added to ours), logging stdout and
// stderr to logPath.
func startProcess(name, bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id, which is also its process group id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs
// the group and waits for the process to be reaped. Only the first call
// signals: later ones would aim at a group id the kernel may have reused.
func (p *process) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		pgid := p.pid()
		if done, _ := p.exited(); !done {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(grace):
			}
		}
		// The group may hold children even after the leader is gone.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
	<-p.done
}

// processAlive reports whether pid names a live (not zombie) process.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	for i := len(stat) - 1; i > 0; i-- {
		if stat[i] == ')' && i+2 < len(stat) {
			return stat[i+2] != 'Z' && stat[i+2] != 'X'
		}
	}
	return true
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1. The listeners
// are closed before returning, so a port can in principle be taken by someone
// else before our process binds it; holding all n until the end keeps them
// distinct from each other.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
