package launch

import (
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// refusedForGood reports whether the API server refused a write in a way
// that repeats on every attempt, so retrying the event cannot help and
// Keptn must be told instead: an invalid object (422), a body over the API
// server's limit (413), an object over etcd's request limit (which
// kube-apiserver still answers as a 500 "etcdserver: request is too large",
// kubernetes/kubernetes#112152), a bad request, or a namespace we may not
// use (403, except quota, which frees up).
func refusedForGood(err error) bool {
	switch {
	case err == nil:
		return false
	case apierrors.IsInvalid(err), apierrors.IsRequestEntityTooLargeError(err), apierrors.IsBadRequest(err):
		return true
	case apierrors.IsForbidden(err):
		return !isQuota(err)
	}
	var status apierrors.APIStatus
	return errors.As(err, &status) && status.Status().Code == 500 && strings.Contains(status.Status().Message, "request is too large")
}

func isQuota(err error) bool {
	return strings.Contains(err.Error(), "exceeded quota")
}

// permanent marks errors no redelivery can fix, answered 400: even the
// record Job that would carry the errored .finished was refused for good.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so IsPermanent reports true.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err, or an error joined into it, can never
// succeed on redelivery (and nothing retryable is joined with it).
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) && !IsRetryable(err)
}
