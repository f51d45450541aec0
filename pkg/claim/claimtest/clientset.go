// Package claimtest is a fake Kubernetes clientset for the tests of the
// packages that write claims on Jobs (pkg/reporter, pkg/launch): it decides
// Job updates by resourceVersion as the API server does.
package claimtest

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// JobsResource is the resource of Jobs in the fake's tracker.
var JobsResource = batchv1.SchemeGroupVersion.WithResource("jobs")

// NewClientset is a fake clientset holding objs whose Job updates conflict
// unless they carry the stored resourceVersion. client-go's own tracker
// accepts any write, which would let two claimers both win, and would hide
// every interleaving that optimistic concurrency decides. A JSON merge
// patch of a Job applies to the stored Job, as the API server applies it,
// moves its resourceVersion on, and cannot change its UID.
func NewClientset(objs ...runtime.Object) *fake.Clientset {
	cs := fake.NewClientset(objs...)
	var mu sync.Mutex
	rv := 100
	cs.PrependReactor("update", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// The fake runs reactors under its own lock; mu guards rv against
		// future changes of that.
		mu.Lock()
		defer mu.Unlock()
		job := a.(k8stesting.UpdateAction).GetObject().(*batchv1.Job).DeepCopy()
		cur, err := cs.Tracker().Get(JobsResource, job.Namespace, job.Name)
		if err != nil {
			return true, nil, err
		}
		if cur.(*batchv1.Job).ResourceVersion != job.ResourceVersion {
			return true, nil, apierrors.NewConflict(JobsResource.GroupResource(), job.Name, errors.New("the object has been modified"))
		}
		rv++
		job.ResourceVersion = strconv.Itoa(rv)
		if err := cs.Tracker().Update(JobsResource, job, job.Namespace); err != nil {
			return true, nil, err
		}
		return true, job.DeepCopy(), nil
	})
	cs.PrependReactor("patch", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pa := a.(k8stesting.PatchAction)
		if pa.GetPatchType() != types.MergePatchType {
			return false, nil, nil
		}
		mu.Lock()
		defer mu.Unlock()
		cur, err := cs.Tracker().Get(JobsResource, pa.GetNamespace(), pa.GetName())
		if err != nil {
			return true, nil, err
		}
		job, err := MergePatch(cur.(*batchv1.Job), pa.GetPatch())
		if err != nil {
			return true, nil, err
		}
		rv++
		job.ResourceVersion = strconv.Itoa(rv)
		if err := cs.Tracker().Update(JobsResource, job, job.Namespace); err != nil {
			return true, nil, err
		}
		return true, job.DeepCopy(), nil
	})
	return cs
}

// MergePatch applies a JSON merge patch to cur as the API server does,
// refusing a change of the UID (metadata.uid is immutable) as invalid.
func MergePatch(cur *batchv1.Job, patch []byte) (*batchv1.Job, error) {
	data, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	if data, err = jsonpatch.MergePatch(data, patch); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	var job batchv1.Job
	if err := json.Unmarshal(data, &job); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if job.UID != cur.UID {
		return nil, apierrors.NewInvalid(batchv1.SchemeGroupVersion.WithKind("Job").GroupKind(), cur.Name,
			field.ErrorList{field.Invalid(field.NewPath("metadata", "uid"), job.UID, "field is immutable")})
	}
	return &job, nil
}
