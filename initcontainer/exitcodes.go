package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

// Exit codes. The Job's completion report shows the code and the one-line
// message from the termination log; docs: initcontainer/README.md.
const (
	exitOK          = 0
	exitInternal    = 1 // workspace I/O error, interrupted, anything unexpected
	exitUsage       = 2 // bad flags or environment
	exitNotFound    = 3 // an entry exists at no level, neither as file nor folder
	exitUnsafePath  = 4 // absolute path, "..", symlink or path conflict (args or server URIs)
	exitLimit       = 5 // the workspace size limit would be exceeded
	exitUnreachable = 6 // Keptn unreachable, 5xx or timeout after all retries
	exitAuth        = 7 // Keptn refused the token (401/403)
	exitKeptnError  = 8 // Keptn answered unexpectedly (400, bad TLS certificate, malformed body)
)

// exitError carries the exit code chosen where the failure was understood.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

var (
	errUnsafe = errors.New("unsafe path")
	errLimit  = errors.New("workspace size limit")
)

// exitCode maps an error to its exit code: an explicit exitError wins, then
// the kinds the Keptn client reports.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errLimit):
		return exitLimit
	case errors.Is(err, errUnsafe), errors.Is(err, resources.ErrInvalidURI):
		return exitUnsafePath
	case resources.IsAuthError(err):
		return exitAuth
	case errors.As(err, new(*resources.RetryableError)), errors.Is(err, context.DeadlineExceeded):
		return exitUnreachable
	case errors.Is(err, resources.ErrNotFound):
		return exitNotFound
	}
	var se *resources.StatusError
	if errors.As(err, &se) {
		return exitKeptnError
	}
	return exitInternal
}
