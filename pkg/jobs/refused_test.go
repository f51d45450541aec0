package jobs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// tooLargeForEtcd is what kube-apiserver answers when etcd refuses the
// write: a 500 that is not a metav1.Status of its own making.
func tooLargeForEtcd() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: "etcdserver: request is too large"}}
}

func TestRefusedForGood(t *testing.T) {
	gk := schema.GroupKind{Group: "batch", Kind: "Job"}
	jobs := schema.GroupResource{Group: "batch", Resource: "jobs"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"invalid (422)", apierrors.NewInvalid(gk, "j", field.ErrorList{field.TooLong(field.NewPath("metadata", "annotations"), "", 262144)}), true},
		{"request entity too large (413)", apierrors.NewRequestEntityTooLargeError("limit is 3145728"), true},
		{"etcd request too large (500)", tooLargeForEtcd(), true},
		{"etcd request too large, wrapped", fmt.Errorf("creating job: %w", tooLargeForEtcd()), true},
		{"bad request", apierrors.NewBadRequest("nope"), true},
		{"method not supported", apierrors.NewMethodNotSupported(jobs, "patch"), true},
		{"unsupported media type", apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", jobs, "j", "", 0, false), true},
		{"forbidden namespace", apierrors.NewForbidden(jobs, "j", errors.New("no")), true},
		{"quota", apierrors.NewForbidden(jobs, "j", errors.New("exceeded quota: q")), false},
		{"conflict", apierrors.NewConflict(jobs, "j", errors.New("stale")), false},
		{"not found", apierrors.NewNotFound(jobs, "j"), false},
		{"other 500", apierrors.NewInternalError(errors.New("etcd leader changed")), false},
		{"timeout", apierrors.NewServerTimeout(jobs, "create", 1), false},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), false},
		{"unavailable", apierrors.NewServiceUnavailable("down"), false},
		{"connection refused", errors.New("dial tcp: connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, RefusedForGood(tt.err))
		})
	}
}
