// Command jobctl checks job/config.yaml files on a laptop, before they reach
// Keptn: it validates them, renders the Kubernetes Jobs the function would
// create for an event, and writes Keptn events to test with. It uses the
// function's own packages (pkg/jobconfig, pkg/jobs, pkg/keptn, pkg/launch), so
// what it accepts and prints is what the function does.
package main

import (
	"errors"
	"fmt"
	"os"
)

// Exit codes. Scripts and CI tell "the config is wrong" (1) from "jobctl
// was called wrongly or could not read its input" (2).
const (
	exitOK      = 0
	exitInvalid = 1
	exitUsage   = 2
)

// exitError carries the exit code of a failed command. Errors that are not
// exitErrors come from cobra's own argument and flag checks: usage errors.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// invalid marks a problem with the input's content (exit 1).
func invalid(format string, args ...any) error {
	return &exitError{code: exitInvalid, err: fmt.Errorf(format, args...)}
}

// usage marks a problem with how jobctl was called or a file it could not
// read (exit 2).
func usage(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// errSilent is returned when the command already printed everything the
// user needs (e.g. the list of config errors); main adds nothing.
var errSilent = errors.New("failed (details printed above)")

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitUsage
}

func main() {
	root := newRootCmd()
	err := root.Execute()
	if err != nil && !errors.Is(err, errSilent) {
		fmt.Fprintln(os.Stderr, "jobctl:", err)
		var ee *exitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "Run 'jobctl --help' for usage.")
		}
	}
	os.Exit(exitCode(err))
}
