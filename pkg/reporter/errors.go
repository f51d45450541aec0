package reporter

import (
	"errors"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
)

// ErrBadEvent marks an event that no retry can make usable (answer 400).
var ErrBadEvent = permanent.New(errors.New("not a usable ApiServerSource Resource-mode event"))

// ErrBadJob marks a Job of ours whose annotations cannot be reported from
// (edited by hand, or corrupted): retrying does not help, so it is logged.
var ErrBadJob = permanent.New(errors.New("job cannot be reported"))

// IsRetryable reports whether err may go away if the same work is tried
// again: pkg/permanent's one rule, for the sweep's log line.
func IsRetryable(err error) bool { return err != nil && !permanent.Is(err) }

// final marks a refusal by the API server that repeats on every attempt
// (RBAC, an invalid request) permanent: a redelivery fails the same way,
// and the sweep tries again anyway.
func final(err error) error {
	if jobs.RefusedForGood(err) {
		return permanent.New(err)
	}
	return err
}
