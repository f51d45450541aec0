package coldstart

import (
	"runtime/debug"
	"testing"
)

func TestDoneRestoresTheCollectorOnce(t *testing.T) {
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("collector percent before Done = %d, want -1 (off since package initialisation)", got)
	}
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
