package testbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"strings"
)

// kwok v0.7.0 can die the moment one of its lifecycle stages first builds
// its CEL environment: easycel v0.6.0, which it builds them with, caches
// type traits, type values and struct fields in package-level maps without
// a lock, and kwok's node and pod workers fill them from several goroutines
// ("fatal error: concurrent map writes", in easycel's getTrait). Seen once
// in the first bed start of a session on a 2-core machine. kwok keeps no
// state of its own (the node and the pods are in the API server), so the
// bed does what a Deployment would do for it: it starts kwok again. Only
// that crash is restarted, at most kwokRestarts times; any other exit stays
// an error.
const kwokRestarts = 5

// kwokRun is one run of kwok and where its part of the shared log begins.
type kwokRun struct {
	p         *process
	logOffset int64
}

// crashedOnMapRace reports whether the run ended with easycel's race.
func (r kwokRun) crashedOnMapRace() bool {
	if done, _ := r.p.exited(); !done {
		return false
	}
	f, err := os.Open(r.p.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(r.logOffset, io.SeekStart); err != nil {
		return false
	}
	out, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return false
	}
	s := string(out)
	return strings.Contains(s, "fatal error: concurrent map") && strings.Contains(s, "github.com/wzshiming/easycel")
}

// startKwokRun starts kwok with args, its log appended to the previous
// runs'.
func (b *Bed) startKwokRun(args []string) (kwokRun, error) {
	var offset int64
	if st, err := os.Stat(b.logPath("kwok")); err == nil {
		offset = st.Size()
	}
	p, err := b.run("kwok", b.bins.Kwok, nil, args...)
	return kwokRun{p: p, logOffset: offset}, err
}

// startKwokUntilHealthy starts kwok and waits for its health endpoint,
// starting it again when it dies of easycel's race on the way.
func (b *Bed) startKwokUntilHealthy(ctx context.Context, args []string, healthz string) (kwokRun, error) {
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // self-signed loopback endpoint, only probed for liveness
	for restarts := 0; ; restarts++ {
		run, err := b.startKwokRun(args)
		if err != nil {
			return run, err
		}
		err = b.waitHTTP(ctx, run.p, healthz, insecure)
		if err == nil || restarts == kwokRestarts || !run.crashedOnMapRace() {
			return run, err
		}
		run.p.stop(0) // reap its group while the id is still its own
		fmt.Fprintf(b.log, "testbed: kwok died of easycel's map race while starting (%s); starting it again\n", run.p.logPath)
	}
}

// keepKwok starts kwok again each time it dies of easycel's race, until
// the bed stops.
func (b *Bed) keepKwok(run kwokRun, args []string) {
	for restarts := 0; restarts < kwokRestarts; restarts++ {
		<-run.p.done
		b.mu.Lock()
		stopped := b.stopped
		b.mu.Unlock()
		if stopped || !run.crashedOnMapRace() {
			return
		}
		// Reap the dead run's group now, while its id is still its own.
		run.p.stop(0)
		fmt.Fprintf(b.log, "testbed: kwok died of easycel's map race (%s); starting it again\n", run.p.logPath)
		var err error
		if run, err = b.startKwokRun(args); err != nil {
			fmt.Fprintf(b.log, "testbed: kwok not started again: %v\n", err)
			return
		}
	}
}
