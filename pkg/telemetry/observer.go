package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	keptnv2 "github.com/keptn/go-utils/pkg/lib/v0_2_0"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobs"
)

// Observer turns what pkg/launch and pkg/reporter did to a Job into metrics
// and Kubernetes Events. Either part may be nil. Its methods do not block:
// metrics are in memory and Events are written in the background.
type Observer struct {
	Metrics *Metrics
	Events  *JobEvents
	// Now is time.Now unless set (tests).
	Now func() time.Time
}

func (o *Observer) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Created is called once a Job was created.
func (o *Observer) Created(ctx context.Context, job *batchv1.Job) {
	if msg := job.Annotations[jobs.AnnotationInvalid]; msg != "" {
		o.Metrics.JobCreated(ctx, "record")
		o.Events.Record(job, corev1.EventTypeWarning, ReasonCreated, "Create",
			"Recorded an action that cannot run, to report it to Keptn: "+msg)
		return
	}
	o.Metrics.JobCreated(ctx, "task")
	o.Events.Record(job, corev1.EventTypeNormal, ReasonCreated, "Create",
		fmt.Sprintf("Created for %s (Keptn context %s, event %s)", eventTypeOf(job), keptnContextOf(job), job.Annotations[jobs.AnnotationEventID]))
}

// Sent is called once a Keptn response for job was sent and recorded.
func (o *Observer) Sent(ctx context.Context, job *batchv1.Job, ev event.Event) {
	switch {
	case keptnv2.IsStartedEventType(ev.Type()):
		// No Event: the Job's jobs.keptn.sh/started annotation already says
		// when .started went out, and an Event per response would be a
		// second API write per triggered event for the same fact.
		o.Metrics.Report(ctx, "started", "", "")
	case keptnv2.IsFinishedEventType(ev.Type()):
		var d keptnv2.EventData
		_ = json.Unmarshal(ev.Data(), &d)
		o.Metrics.Report(ctx, "finished", string(d.Status), string(d.Result))
		if end, ok := terminalTime(job); ok {
			o.Metrics.ReportLatency(ctx, o.now().Sub(end))
		}
		kind := corev1.EventTypeNormal
		if d.Result == keptnv2.ResultFailed || d.Status == keptnv2.StatusErrored {
			kind = corev1.EventTypeWarning
		}
		o.Events.Record(job, kind, ReasonFinishedSent, "SendFinished",
			fmt.Sprintf("Sent %s: status %s, result %s", ev.Type(), d.Status, d.Result))
	}
}

// Busy is called when an attempt found a response's claim (its annotation
// key) held by another attempt or replica.
func (o *Observer) Busy(ctx context.Context, _ *batchv1.Job, claim string) {
	o.Metrics.ClaimConflict(ctx, claimName(claim))
}

// Stopped is called once a Job that can never run was stopped.
func (o *Observer) Stopped(_ context.Context, job *batchv1.Job, reason, summary string) {
	o.Events.Record(job, corev1.EventTypeWarning, ReasonStopped, "Stop", reason+": "+summary)
}

// terminalTime is when job ended: the earliest lastTransitionTime (whole
// seconds, as the API stores it) of its true SuccessCriteriaMet,
// FailureTarget, Complete or Failed condition. The first two come first
// (Kubernetes 1.31+), the others once the pods are gone.
func terminalTime(job *batchv1.Job) (time.Time, bool) {
	var end time.Time
	for _, c := range job.Status.Conditions {
		switch c.Type {
		case batchv1.JobSuccessCriteriaMet, batchv1.JobFailureTarget, batchv1.JobComplete, batchv1.JobFailed:
		default:
			continue
		}
		if c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() && (end.IsZero() || c.LastTransitionTime.Before(&metav1.Time{Time: end})) {
			end = c.LastTransitionTime.Time
		}
	}
	return end, !end.IsZero()
}

// claimName is the short name of a claim annotation: "start-claim" for
// <domain>/start-claim.
func claimName(annotation string) string {
	if i := strings.LastIndexByte(annotation, '/'); i >= 0 {
		return annotation[i+1:]
	}
	return annotation
}

func eventTypeOf(job *batchv1.Job) string {
	if t := job.Annotations[jobs.AnnotationEventType]; t != "" {
		return t
	}
	return "a Keptn event"
}

func keptnContextOf(job *batchv1.Job) string {
	var o struct {
		Context string `json:"shkeptncontext"`
	}
	_ = json.Unmarshal([]byte(job.Annotations[jobs.AnnotationOrigin]), &o)
	return o.Context
}
