package reporter

import (
	"context"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

// ErrBadEvent marks an event that no retry can make usable (answer 400).
var ErrBadEvent = errors.New("not a usable ApiServerSource Resource-mode event")

// ErrBadJob marks a Job of ours whose annotations cannot be reported from
// (edited by hand, or corrupted): retrying does not help, so it is logged.
var ErrBadJob = errors.New("job cannot be reported")

// IsRetryable reports whether err may go away if the same work is tried
// again: Kubernetes or Keptn unreachable, overloaded or failing. Callers
// answer such errors with a 5xx so the event is delivered again. An error
// of unknown kind counts as retryable: a lost .finished hangs a sequence.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, ErrBadEvent) || errors.Is(err, ErrBadJob) || errors.Is(err, finished.ErrTooLarge) {
		return false
	}
	var se *sink.SendError
	if errors.As(err, &se) {
		return se.Retryable
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch status.Status().Code {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusMethodNotAllowed,
			http.StatusNotAcceptable, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
			// RBAC or a request the API server will never accept: a
			// redelivery fails the same way (the sweep retries anyway).
			return false
		}
		return true
	}
	return true
}
