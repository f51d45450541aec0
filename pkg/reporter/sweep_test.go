package reporter

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"
)

// lists counts the List calls per resource.
func lists(cs *fake.Clientset) map[string]int {
	out := map[string]int{}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "list" {
			out[a.GetResource().Resource]++
		}
	}
	return out
}

// namedJob is a Job and its pod named i, as the Job controller links them.
func namedJob(i int, job *batchv1.Job, pod *corev1.Pod) []runtime.Object {
	name := "job-" + strconv.Itoa(i)
	job.Name, job.UID = name, types.UID("uid-"+name)
	pod.Name = name + "-pod"
	pod.Labels[batchv1.JobNameLabel], pod.Labels["job-name"] = name, name
	yes := true
	pod.OwnerReferences = []metav1.OwnerReference{metav1OwnerRef(job, &yes)}
	return []runtime.Object{job, pod}
}

func TestSweepListsPodsOncePerNamespace(t *testing.T) {
	running := func() *corev1.Pod {
		return podObj(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0))
	}
	tests := []struct {
		name      string
		objs      []runtime.Object
		podLists  int
		reported  int
		remaining int
	}{
		{name: "no jobs", podLists: 0},
		{name: "all reported", objs: namedJob(0, verdicttest.NewJob(verdicttest.Complete(verdicttest.T0), verdicttest.WithAnnotation(jobs.AnnotationReported, verdicttest.T0.Format(time.RFC3339Nano))), running()), podLists: 0},
		{name: "many running, some ended", objs: func() []runtime.Object {
			var objs []runtime.Object
			for i := range 20 {
				objs = append(objs, namedJob(i, verdicttest.NewJob(), running())...)
			}
			objs = append(objs, namedJob(20, failedJob(), failedPod())...)
			objs = append(objs, namedJob(21, verdicttest.NewJob(), failedPod())...) // ended, no condition yet
			stuck := podObj(verdicttest.Phase(corev1.PodPending), verdicttest.OK(jobs.FetcherContainer), verdicttest.Waiting(verdicttest.C0, "ImagePullBackOff", "no such image"))
			objs = append(objs, namedJob(22, verdicttest.NewJob(), stuck)...)
			return objs
		}(), podLists: 1, reported: 3, remaining: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(tt.objs...)
			r := b.reconciler(t, "a")
			r.Config.PageSize = 7
			st, err := r.Sweep(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.podLists, lists(b.kube)["pods"], "pod lists")
			assert.Equal(t, tt.reported, st.Reported)
			assert.Equal(t, tt.remaining, st.Pending)
			assert.Equal(t, tt.reported, len(b.sink.types()))
		})
	}
}

func metav1OwnerRef(job *batchv1.Job, controller *bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: controller}
}
