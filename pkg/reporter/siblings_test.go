package reporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

func TestSiblingsStarted(t *testing.T) {
	sibs, err := EncodeSiblings([]Sibling{
		{Name: "self", Namespaces: []string{"ns"}},
		{Name: "other", Namespaces: []string{"tasks", "ns"}},
	})
	require.NoError(t, err)
	self := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "self", Namespace: "ns", Annotations: map[string]string{AnnotationSiblings: sibs}}}
	other := func(ns string, ann map[string]string) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns, Annotations: ann}}
	}
	for name, tc := range map[string]struct {
		job   *batchv1.Job
		other *batchv1.Job
		want  bool
	}{
		"no list (single action)":      {&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "ns"}}, nil, true},
		"sibling not created yet":      {self, nil, false},
		"sibling created, not started": {self, other("tasks", map[string]string{}), false},
		"sibling started":              {self, other("tasks", map[string]string{jobs.AnnotationStarted: "t"}), true},
		"sibling silent":               {self, other("tasks", map[string]string{jobs.AnnotationSilent: "true"}), true},
		"sibling's record started":     {self, other("ns", map[string]string{jobs.AnnotationStarted: "t"}), true},
	} {
		t.Run(name, func(t *testing.T) {
			kube := fake.NewClientset()
			if tc.other != nil {
				_, err := kube.BatchV1().Jobs(tc.other.Namespace).Create(context.Background(), tc.other, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			got, err := SiblingsStarted(context.Background(), func(ns string) JobGetter { return kube.BatchV1().Jobs(ns) }, tc.job)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestSiblingsMalformed(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "x", Annotations: map[string]string{AnnotationSiblings: "{"}}}
	_, err := SiblingsStarted(context.Background(), nil, job)
	assert.ErrorIs(t, err, ErrBadJob)
}
