package launch

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"errors"
	"strings"
	"sync/atomic"
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

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
)

const twoActions = `apiVersion: v2
actions:
  - name: refused
    events:
      - name: sh.keptn.event.deployment.triggered
    tasks:
      - name: a
        image: alpine
  - name: second
    events:
      - name: sh.keptn.event.deployment.triggered
    tasks:
      - name: b
        image: alpine
`

// Keptn closes a task when its .finished count reaches its .started count,
// so the refused action's errored .finished must wait until the second
// action's .started is out, on this delivery or a later one.
func TestHandleSendsEveryStartedBeforeAnyFinished(t *testing.T) {
	for name, tc := range map[string]struct {
		// secondFails is how many creates of the second Job fail with a
		// transient error.
		secondFails int32
		deliveries  int
		want        []string
	}{
		"both in one delivery":  {0, 1, []string{"started", "started", "finished"}},
		"second action retried": {1, 2, []string{"started", "started", "finished"}},
		"second never created":  {5, 1, []string{"started"}},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			h, kube := newHandler(t, twoActions, rec)
			var failures atomic.Int32
			failures.Store(tc.secondFails)
			kube.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
				job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
				switch {
				case strings.Contains(job.Name, "refused") && job.Annotations[jobs.AnnotationInvalid] == "":
					return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, job.Name, field.ErrorList{field.Invalid(field.NewPath("spec"), "x", "no")})
				case strings.Contains(job.Name, "second") && failures.Add(-1) >= 0:
					return true, nil, errors.New("etcd timeout")
				}
				return false, nil, nil
			})
			ev := triggered(t, "sh.keptn.event.deployment.triggered")
			var err error
			for range tc.deliveries {
				_, err = h.Handle(context.Background(), ev)
			}
			if tc.secondFails >= int32(tc.deliveries) {
				assert.False(t, permanent.Is(err))
			} else {
				require.NoError(t, err)
			}
			var kinds []string
			for _, typ := range rec.types() {
				kinds = append(kinds, typ[strings.LastIndex(typ, ".")+1:])
			}
			assert.Equal(t, tc.want, kinds)

			list, err := kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			for _, j := range list.Items {
				sibs, err := reporter.SiblingsOf(&j)
				require.NoError(t, err)
				assert.Len(t, sibs, 2, "every Job names both actions' Jobs")
			}
		})
	}
}
