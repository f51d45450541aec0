package launch

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	k8stesting "k8s.io/client-go/testing"
)

// tooLargeForEtcd is what kube-apiserver answers when etcd refuses the
// write: a 500 that is not a metav1.Status of its own making.
func tooLargeForEtcd() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: "etcdserver: request is too large"}}
}

func jobsResource() schema.GroupResource {
	return schema.GroupResource{Group: "batch", Resource: "jobs"}
}

// refuseJobs makes the API server refuse every Job that would run with
// err, and the suspended records too when records is set.
func refuseJobs(kube interface {
	PrependReactor(verb, resource string, reaction k8stesting.ReactionFunc)
}, err error, records bool) {
	kube.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if job.Spec.Suspend != nil && *job.Spec.Suspend && !records {
			return false, nil, nil
		}
		return true, nil, err
	})
}

// TestHandleAPIRefusalIsReportedNotRetried: a Job the API server refuses
// the same way on every attempt (issue 16 point 5) ends in an errored
// .started/.finished with a bounded message, and the Broker gets no 5xx.
func TestHandleAPIRefusalIsReportedNotRetried(t *testing.T) {
	for name, refusal := range map[string]error{
		"413":            apierrors.NewRequestEntityTooLargeError("limit is 3145728"),
		"etcd too large": tooLargeForEtcd(),
		"422 huge value": apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "j", field.ErrorList{field.Invalid(field.NewPath("spec"), strings.Repeat("v", 100<<10), "bad")}),
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			h, kube := newHandler(t, hello, rec)
			refuseJobs(kube, refusal, false)
			ev := triggered(t, "sh.keptn.event.deployment.triggered")
			out, err := h.Handle(context.Background(), ev)
			require.NoError(t, err)
			assert.Equal(t, 1, out.Invalid)
			require.Equal(t, []string{"sh.keptn.event.deployment.started", "sh.keptn.event.deployment.finished"}, rec.types())
			var data map[string]any
			require.NoError(t, json.Unmarshal(rec.sent[1].Data(), &data))
			assert.Equal(t, "errored", data["status"])
			assert.Contains(t, data["message"], "refused by the Kubernetes API")
			assert.Less(t, len(data["message"].(string)), 20<<10, "the message is bounded")
		})
	}
}

func TestHandleRecordRefusedIsPermanent(t *testing.T) {
	h, kube := newHandler(t, hello, &recorder{})
	refuseJobs(kube, apierrors.NewForbidden(jobsResource(), "j", errors.New("namespace is gone")), true)
	_, err := h.Handle(context.Background(), triggered(t, "sh.keptn.event.deployment.triggered"))
	require.Error(t, err)
	assert.True(t, permanent.Is(err), "answered 400: no redelivery can help")
	assert.False(t, permanent.Is(errors.Join(err, errors.New("503"))), "an error that may pass wins when joined")
}
