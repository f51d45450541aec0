// Command testbed runs the end-to-end test bed (package testbed) for people:
//
//	testbed build              build the control-plane binaries into the cache
//	testbed up   [-state DIR]  start a cluster in the background, print its kubeconfig path
//	testbed down [-state DIR]  stop the cluster that up started
//	testbed run  [-state DIR]  start a cluster in the foreground until Ctrl-C
//	testbed tool NAME          build a tool (golangci-lint, funcyaml-check, cosign2, cosign3) into the cache, print its path
//
// The state directory (default: <user cache dir>/job-executor-knative/cluster)
// holds the cluster's files, its kubeconfig and the pid of the process that
// runs it; `up` re-executes this program as that process (`serve`), detached
// from the terminal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testbed:", err)
		os.Exit(1)
	}
}

const usage = "usage: testbed build | up [-state DIR] | down [-state DIR] | run [-state DIR] | tool golangci-lint|funcyaml-check|cosign2|cosign3"

// tools are the programs `testbed tool` builds; `make lint` asks for
// golangci-lint this way, so the Makefile shares the bed's build cache.
var tools = map[string]func(context.Context, io.Writer) (string, error){
	"golangci-lint":  testbed.GolangciLint,
	"funcyaml-check": testbed.FuncYAMLCheck,
	"cosign2":        testbed.Cosign2,
	"cosign3":        testbed.Cosign3,
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	if args[0] == "tool" {
		build, ok := tools[strings.Join(args[1:], " ")]
		if !ok {
			return errors.New(usage)
		}
		path, err := build(context.Background(), os.Stderr)
		if err != nil {
			return err
		}
		fmt.Println(path)
		return nil
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	defaultState := ""
	if dir, err := testbed.CacheDir(); err == nil {
		defaultState = filepath.Join(dir, "cluster")
	}
	stateDir := fs.String("state", defaultState, "directory for the cluster's files, kubeconfig and pid")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New(usage)
	}
	st := state{dir: *stateDir}
	ctx := context.Background()
	switch args[0] {
	case "build":
		start := time.Now()
		bins, err := testbed.EnsureBinaries(ctx, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Printf("binaries ready in %s: %s\n", time.Since(start).Round(time.Millisecond), filepath.Dir(bins.APIServer))
		return nil
	case "up":
		return up(ctx, st)
	case "down":
		return down(st)
	case "run":
		return serve(st, true)
	case "serve":
		return serve(st, false)
	}
	return errors.New(usage)
}

// serve runs a cluster until SIGINT or SIGTERM.
func serve(st state, foreground bool) error {
	if pid, alive := st.running(); alive {
		return fmt.Errorf("a cluster is already running (pid %d); run `testbed down` first", pid)
	}
	if err := st.reset(); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	if err := os.WriteFile(st.pidFile(), []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		return err
	}
	defer func() { _ = os.Remove(st.pidFile()) }()
	start := time.Now()
	bed, err := testbed.Start(ctx, testbed.Options{Dir: st.clusterDir(), Log: os.Stderr})
	if err != nil {
		return err
	}
	defer bed.Stop()
	if err := os.WriteFile(st.readyFile(), []byte(bed.KubeconfigPath()), 0o644); err != nil {
		return err
	}
	defer func() { _ = os.Remove(st.readyFile()) }()
	fmt.Fprintf(os.Stderr, "testbed: cluster up in %s\n", time.Since(start).Round(time.Millisecond))
	if foreground {
		fmt.Printf("export KUBECONFIG=%s\n", bed.KubeconfigPath())
		fmt.Fprintln(os.Stderr, "testbed: press Ctrl-C to stop")
	}
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "testbed: stopping")
	return nil
}
