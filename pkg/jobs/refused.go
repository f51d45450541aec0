package jobs

import (
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// RefusedForGood reports whether the API server refused a write of a Job
// (or its annotations) in a way that repeats on every attempt, so a retry
// cannot help and Keptn must be told instead: an invalid object (422), a
// body over the API server's limit (413), an object over etcd's request limit (which
// kube-apiserver still answers as a 500 "etcdserver: request is too large",
// kubernetes/kubernetes#112152), a bad or unsupported request (400, 405,
// 406, 415), or RBAC (403, except quota, which frees up).
func RefusedForGood(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	s := status.Status()
	switch s.Code {
	// Numbers, not net/http's names: this package does no I/O
	// (docs/design.md).
	case 422, 413, 400, 405, 406, 415:
		return true
	case 403:
		return !strings.Contains(s.Message, "exceeded quota")
	case 500:
		return strings.Contains(s.Message, "request is too large")
	}
	return false
}
