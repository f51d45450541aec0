package launch

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
)

// onStarted runs hook as .started is being sent: after the Job was
// created, before the write that records .started.
type onStarted struct {
	*recorder
	hook func(ctx context.Context)
}

func (s onStarted) Send(ctx context.Context, ev event.Event) error {
	if strings.HasSuffix(ev.Type(), ".started") && s.hook != nil {
		s.hook(ctx)
	}
	return s.recorder.Send(ctx, ev)
}

// endedPod is the Job's pod, every container exited 0, as the kubelet
// leaves it.
func endedPod(job *batchv1.Job) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x7k2p", Namespace: job.Namespace, Labels: map[string]string{
			jobs.LabelManagedBy: job.Labels[jobs.LabelManagedBy], batchv1.JobNameLabel: job.Name,
		}, OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
			Finalizers: []string{batchv1.JobTrackingFinalizer}},
		Status: corev1.PodStatus{Phase: corev1.PodSucceeded},
	}
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	for _, c := range job.Spec.Template.Spec.InitContainers {
		pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, corev1.ContainerStatus{Name: c.Name, State: done})
	}
	for _, c := range job.Spec.Template.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, State: done})
	}
	return pod
}

// raceBed is the launcher and a reporter (the watch) on one fake API
// server that decides Job updates by resourceVersion.
type raceBed struct {
	h    *Handler
	r    *reporter.Reconciler
	kube *fake.Clientset
	rec  *recorder
	// stale, once set, is what the next Job GET answers: a reporter that
	// read the Job before .started was recorded.
	stale atomic.Pointer[batchv1.Job]
}

func newRaceBed(t *testing.T) *raceBed {
	b := &raceBed{rec: &recorder{}}
	b.h, b.kube = newHandler(t, hello, b.rec)
	r, err := reporter.NewReconciler(b.kube, b.h.Responses, reporter.Config{ManagedBy: b.h.Settings.ManagedBy, Namespaces: []string{"ns"}})
	require.NoError(t, err)
	b.r = r
	b.h.Settle = func(ctx context.Context, job *batchv1.Job) error {
		_, err := r.Reconcile(ctx, job)
		return err
	}
	b.kube.PrependReactor("get", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		if j := b.stale.Swap(nil); j != nil {
			return true, j, nil
		}
		return false, nil, nil
	})
	return b
}

func (b *raceBed) job(t *testing.T) *batchv1.Job {
	t.Helper()
	list, err := b.kube.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	return &list.Items[0]
}

// podEnds creates the Job's ended pod and tells the watch, as the
// ApiServerSource would.
func (b *raceBed) podEnds(t *testing.T, ctx context.Context) reporter.Outcome {
	t.Helper()
	pod, err := b.kube.CoreV1().Pods("ns").Create(ctx, endedPod(b.job(t)), metav1.CreateOptions{})
	require.NoError(t, err)
	out, err := b.r.PodChanged(ctx, pod)
	require.NoError(t, err)
	return out
}

// calls counts the API requests made so far by verb and resource.
func (b *raceBed) calls() map[string]int {
	n := map[string]int{}
	for _, a := range b.kube.Actions() {
		n[a.GetVerb()+" "+a.GetResource().Resource]++
	}
	return n
}

// A Job whose pod ends before its .started is recorded: .finished must
// wait for .started, then go out at once and exactly once, whichever of
// the two writes (the watch's mark, the creator's record of .started)
// comes first. The creator reads nothing back unless the watch marked
// the Job.
func TestAJobThatEndsBeforeItsStartedIsRecordedIsReportedOnce(t *testing.T) {
	for name, tc := range map[string]struct {
		// during runs while .started is sent; after, once Handle returned.
		during, after func(t *testing.T, b *raceBed, ctx context.Context)
		// creatorReports: the creator's settle sent .finished.
		creatorReports bool
	}{
		"the watch marks the Job first; the creator's record (a patch) answers the mark and it reports": {
			during: func(t *testing.T, b *raceBed, ctx context.Context) {
				out := b.podEnds(t, ctx)
				assert.True(t, out.Busy, "the creator still holds .started")
				assert.NotEmpty(t, b.job(t).Annotations[reporter.AnnotationReportDue])
			},
			creatorReports: true,
		},
		"the creator records .started first; the watch's mark conflicts and it reports": {
			during: func(t *testing.T, b *raceBed, ctx context.Context) {
				b.stale.Store(b.job(t))
			},
			after: func(t *testing.T, b *raceBed, ctx context.Context) {
				out := b.podEnds(t, ctx)
				assert.True(t, out.Reported, "the watch read the Job before .started was recorded, and reports after")
			},
		},
		"the pod ends after .started is recorded: the watch reports as usual": {
			after: func(t *testing.T, b *raceBed, ctx context.Context) {
				out := b.podEnds(t, ctx)
				assert.True(t, out.Reported)
			},
		},
	} {
		for _, background := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/recorded after the answer=%v", name, background), func(t *testing.T) {
				ctx := context.Background()
				b := newRaceBed(t)
				if background {
					b.h.Background = NewBackground(4, time.Minute)
				}
				b.h.Responses.Sink = onStarted{recorder: b.rec, hook: func(ctx context.Context) {
					if tc.during != nil {
						tc.during(t, b, ctx)
					}
				}}
				_, err := b.h.Handle(ctx, triggered(t, "sh.keptn.event.deployment.triggered"))
				require.NoError(t, err)
				require.NoError(t, b.h.Background.Wait(ctx))
				if tc.creatorReports {
					assert.Equal(t, []string{"sh.keptn.event.deployment.started", "sh.keptn.event.deployment.finished"}, b.rec.types())
				} else {
					assert.Equal(t, []string{"sh.keptn.event.deployment.started"}, b.rec.types())
					assert.Zero(t, b.calls()["list pods"], "the creator lists no pods when no one marked the Job")
				}
				if tc.after != nil {
					tc.after(t, b, ctx)
				}
				assert.Equal(t, []string{"sh.keptn.event.deployment.started", "sh.keptn.event.deployment.finished"}, b.rec.types(), "exactly one .finished, after .started")
				assert.NotEmpty(t, b.job(t).Annotations[jobs.AnnotationReported])

				// Later events of the Job send nothing more.
				_, err = b.r.Reconcile(ctx, b.job(t))
				require.NoError(t, err)
				assert.Len(t, b.rec.types(), 2)
			})
		}
	}
}

// The creator of a Job no one marked makes three requests: the create,
// the .started POST (not an API request) and the patch that records it;
// no read back, no pod list.
func TestTheCreatorOfAnUnmarkedJobReadsNothingBack(t *testing.T) {
	b := newRaceBed(t)
	_, err := b.h.Handle(context.Background(), triggered(t, "sh.keptn.event.deployment.triggered"))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"create jobs": 1, "patch jobs": 1}, b.calls())
}
