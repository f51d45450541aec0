package reporter

import (
	"encoding/json"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/generic"
	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict"
)

// finishedEvent is job's report: Keptn's .finished, or for a generic Job
// (jobs.IsGeneric, written when it was built) the result CloudEvent, with
// the same id, claims and size fitting.
func (s *Sender) finishedEvent(job *batchv1.Job, o keptn.Origin, f keptn.Finished, lines []verdict.Line) (event.Event, error) {
	id := ResponseID(job, keptn.KindFinished)
	if !jobs.IsGeneric(job) {
		return keptn.FinishedEvent(s.Source, id, o, f, s.now())
	}
	var tasks any
	if len(lines) > 0 {
		tasks = lines
	}
	return generic.ResultEvent(generic.Result{
		Type:          job.Annotations[jobs.AnnotationResultType],
		Source:        s.Source,
		ID:            id,
		Subject:       job.Namespace + "/" + job.Name,
		TriggerID:     job.Annotations[jobs.AnnotationEventID],
		TriggerSource: job.Annotations[jobs.AnnotationEventSource],
		TriggerType:   job.Annotations[jobs.AnnotationEventType],
		Status:        f.Status,
		Outcome:       f.Result,
		Message:       f.Message,
		Tasks:         tasks,
		Results:       f.Extra,
		TraceParent:   o.TraceParent,
		Time:          s.now(),
	})
}

// sinkFor is where job's responses go: a generic Job's result goes to
// GenericSink when one is set.
func (s *Sender) sinkFor(job *batchv1.Job) sink.Sender {
	if s.GenericSink != nil && jobs.IsGeneric(job) {
		return s.GenericSink
	}
	return s.Sink
}

// eventSize measures ev as its receiver gets it: Keptn's API body, or a
// generic result's structured JSON (a binary-mode sink sends less).
func eventSize(job *batchv1.Job, ev event.Event) (int, error) {
	var body []byte
	var err error
	if jobs.IsGeneric(job) {
		body, err = json.Marshal(ev)
	} else {
		body, err = sink.KeptnBody(ev)
	}
	if err != nil {
		return 0, fmt.Errorf("measuring %s: %w", ev.Type(), err)
	}
	return len(body), nil
}
