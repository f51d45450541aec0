package coldstart

import (
	"runtime/debug"
	"sync"
	"testing"
)

// offAtStart is the collector's setting as this package's initialisation
// left it; reading percent first orders it after that initialisation.
var offAtStart = func() int {
	_ = percent
	setting := debug.SetGCPercent(-1)
	debug.SetGCPercent(setting)
	return setting
}()

func TestInitialisationTurnsTheCollectorOff(t *testing.T) {
	if offAtStart != -1 {
		t.Fatalf("collector percent after package initialisation = %d, want -1 (off)", offAtStart)
	}
}

func TestDoneRestoresTheCollectorOnce(t *testing.T) {
	// The collector is process state: start from the initialised state
	// on every run (go test -count) and leave GOGC's setting behind.
	done = sync.Once{}
	debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(percent) })

	Done()
	if got := debug.SetGCPercent(percent); got != percent {
		t.Fatalf("collector percent after Done = %d, want GOGC's %d", got, percent)
	}
	debug.SetGCPercent(7)
	Done()
	if got := debug.SetGCPercent(percent); got != 7 {
		t.Fatalf("a second Done changed the collector percent to %d", got)
	}
}
