package reporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/claim"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"
)

// A reporter that meets a Job whose creator is still sending .started
// marks it only when its .finished is due, from what it has: the sweep's
// pod list, the pods listed beside the Job for a pod event, or, for a Job event, the
// Job's own status (no pod list: the pod's end comes as its own event).
func TestAReporterMarksAJobDueWhileItsStartedIsSent(t *testing.T) {
	sending := func(opts ...verdicttest.JobOpt) *batchv1.Job {
		return verdicttest.NewJob(append([]verdicttest.JobOpt{verdicttest.WithoutAnnotation(jobs.AnnotationStarted),
			verdicttest.WithAnnotation(jobs.AnnotationStartClaim, claim.Value("creator/1", verdicttest.T0.Add(time.Hour)))}, opts...)...)
	}
	running := podObj(verdicttest.OK(jobs.FetcherContainer), verdicttest.Running(verdicttest.C0))
	ended := podObj(verdicttest.Phase(corev1.PodSucceeded), verdicttest.OK(jobs.FetcherContainer), verdicttest.OK(verdicttest.C0), verdicttest.OK(verdicttest.C1))
	complete := verdicttest.Complete(verdicttest.T0.Add(time.Minute))
	for name, tc := range map[string]struct {
		job      *batchv1.Job
		pod      *corev1.Pod
		via      func(*Reconciler, *corev1.Pod) error
		want     bool
		podLists int
	}{
		"sweep, pod ended":        {sending(), ended, sweep, true, 1},
		"sweep, pod running":      {sending(), running, sweep, false, 1},
		"pod event, pod ended":    {sending(), ended, podEvent, true, 1},
		"job event, condition":    {sending(complete), ended, jobEvent, true, 0},
		"job event, no condition": {sending(), ended, jobEvent, false, 0},
		// A pod event lists the pods beside the Job GET, before it knows.
		"already marked, pod event": {sending(verdicttest.WithAnnotation(AnnotationReportDue, "earlier")), ended, podEvent, true, 1},
		"already marked, job event": {sending(complete, verdicttest.WithAnnotation(AnnotationReportDue, "earlier")), ended, jobEvent, true, 0},
	} {
		t.Run(name, func(t *testing.T) {
			b := newBed(tc.job, tc.pod)
			r := b.reconciler(t, "watch")
			require.NoError(t, tc.via(r, tc.pod))
			assert.Empty(t, b.sink.types(), "nothing goes out before .started is recorded")
			job := getJob(t, b.kube)
			assert.Equal(t, tc.want, job.Annotations[AnnotationReportDue] != "")
			assert.Equal(t, tc.want, ReportDue(job))
			lists := 0
			for _, a := range b.kube.Actions() {
				if a.GetVerb() == "list" && a.GetResource().Resource == "pods" {
					lists++
				}
			}
			assert.Equal(t, tc.podLists, lists)
		})
	}
}

func sweep(r *Reconciler, _ *corev1.Pod) error {
	_, err := r.Sweep(context.Background())
	return err
}

func podEvent(r *Reconciler, pod *corev1.Pod) error {
	_, err := r.PodChanged(context.Background(), pod)
	return err
}

func jobEvent(r *Reconciler, _ *corev1.Pod) error {
	job, err := r.Jobs(verdicttest.Ns).Get(context.Background(), verdicttest.JobName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	_, err = r.Reconcile(context.Background(), job)
	return err
}
