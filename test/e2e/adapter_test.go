package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"github.com/keptn-sandbox/job-executor-knative/test/eventsink"
	"github.com/keptn-sandbox/job-executor-knative/test/testbed"
)

// The real ApiServerSource receive adapter reports a Job's progress as
// dev.knative.apiserver.resource.update events carrying the Job.
func TestAdapterSendsJobUpdates(t *testing.T) {
	bed := testbed.Get(t)
	ns := bed.Namespace(t)
	ctx := testContext(t)
	c := bed.Client()
	sink := eventsink.New(t)
	selected := map[string]string{"app.kubernetes.io/managed-by": "e2e"}

	src := &sourcesv1.ApiServerSource{
		ObjectMeta: metav1.ObjectMeta{Name: "jobs", Namespace: ns},
		Spec: sourcesv1.ApiServerSourceSpec{
			EventMode: sourcesv1.ResourceMode,
			Resources: []sourcesv1.APIVersionKindSelector{{
				APIVersion:    "batch/v1",
				Kind:          "Job",
				LabelSelector: &metav1.LabelSelector{MatchLabels: selected},
			}},
		},
	}
	adapter, err := bed.StartAdapter(ctx, src, sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adapter.Stop)

	// The adapter has no readiness signal, and objects that exist when its
	// watch starts produce no event (its reflector's initial list is
	// dropped). Touching a selected Job until an event about it arrives
	// shows the watch is up.
	createJob(t, ctx, c, ns, newJob("canary", selected, nil, container{"task", "alpine:3.20"}))
	waitWatching(t, ctx, c, sink, ns, "canary")
	// An unlabelled Job finishes before the selected one starts; the label
	// selector must keep it out of the events.
	createJob(t, ctx, c, ns, newJob("unselected", nil, nil, container{"task", "alpine:3.20"}))
	waitJobCondition(t, ctx, c, ns, "unselected", batchv1.JobComplete)

	createJob(t, ctx, c, ns, newJob("task", selected, nil, container{"task", testbed.ImageExit(3)}))
	waitJobCondition(t, ctx, c, ns, "task", batchv1.JobFailed)

	ev, err := sink.WaitFor(ctx, func(ev cloudevents.Event) bool {
		if !isEventFor("dev.knative.apiserver.resource.update", ns, "task")(ev) {
			return false
		}
		var job batchv1.Job
		if err := json.Unmarshal(ev.Data(), &job); err != nil {
			return false
		}
		cond, err := jobCondition(&job, batchv1.JobFailed)
		return err == nil && cond.Status == corev1.ConditionTrue
	})
	if err != nil {
		t.Fatalf("no update event with the Job Failed (adapter log %s): %v; received: %s", adapter.LogPath(), err, summary(sink.Events()))
	}
	if ev.Subject() != "/apis/batch/v1/namespaces/"+ns+"/jobs/task" {
		t.Errorf("subject = %q, want the Job's path", ev.Subject())
	}
	if ct := ev.DataContentType(); ct != cloudevents.ApplicationJSON {
		t.Errorf("datacontenttype = %q, want %s", ct, cloudevents.ApplicationJSON)
	}
	for _, got := range sink.Events() {
		if isEventFor("", ns, "unselected")(got) {
			t.Errorf("got %s for the unselected Job despite the label selector", got.Type())
		}
	}
}

// waitWatching annotates the Job ns/name again and again until the sink got
// an event about it.
func waitWatching(t *testing.T, ctx context.Context, c kubernetes.Interface, sink *eventsink.Sink, ns, name string) {
	t.Helper()
	for i := 0; ; i++ {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"testbed.local/poke":"%d"}}}`, i)
		if _, err := c.BatchV1().Jobs(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatalf("poke job %s: %v", name, err)
		}
		waitCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := sink.WaitFor(waitCtx, isEventFor("", ns, name))
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("adapter sent no event about job %s: %v", name, ctx.Err())
		}
	}
}

// isEventFor matches adapter events of type typ ("" for any) about the Job
// ns/name.
func isEventFor(typ, ns, name string) func(cloudevents.Event) bool {
	subject := "/apis/batch/v1/namespaces/" + ns + "/jobs/" + name
	return func(ev cloudevents.Event) bool {
		return (typ == "" || ev.Type() == typ) && ev.Subject() == subject
	}
}

func summary(events []cloudevents.Event) string {
	var sb strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&sb, "\n  %s %s", ev.Type(), ev.Subject())
	}
	return sb.String()
}
