// Package coldstart holds the garbage collector off while the function
// starts. The packages the function links allocate about 5 MB in their
// init functions (sigstore-go's Rekor types and go-openapi's regular
// expressions alone about 1 MB), more than the collector's first 4 MB heap
// goal, so a collection ran before main on every cold start, competing for
// the pod's CPU with the start itself; nearly all of that memory stays
// live. Importing this package turns the collector off from early in
// package initialisation, and Done turns it back to what GOGC asked for
// once the function serves.
//
// A memory limit (GOMEMLIMIT) is still enforced while the collector is off.
package coldstart

import (
	"runtime/debug"
	"sync"
)

// percent is GOGC's setting, read from the runtime as the collector is
// turned off. Package initialisation orders packages by import path among
// those whose imports are initialised; this package imports only
// runtime/debug, so it runs before the heavy initialisers (a test in
// cmd/function checks that no collection runs before main).
var percent = debug.SetGCPercent(-1)

var done sync.Once

// Done gives the collector back the setting GOGC asked for (100 by
// default, or off if GOGC=off). Calls after the first do nothing.
func Done() {
	done.Do(func() { debug.SetGCPercent(percent) })
}
