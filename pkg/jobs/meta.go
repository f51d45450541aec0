package jobs

import (
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/keptn-sandbox/job-executor-knative/pkg/jobconfig"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
)

// Labels select our Jobs (the ApiServerSource, the sweep, RBAC-scoped lists);
// annotations carry everything a report needs, so the function keeps no state.
const (
	Domain = jobconfig.ReservedDomain

	// LabelManagedBy marks Jobs and pods this service created; its value is
	// Settings.ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelContext   = Domain + "context"
	LabelProject   = Domain + "project"
	LabelStage     = Domain + "stage"
	LabelService   = Domain + "service"
	LabelAction    = Domain + "action"
	LabelTask      = Domain + "task"

	// AnnotationOrigin is the JSON keptn.Origin of the triggered event.
	AnnotationOrigin = Domain + "origin"
	// AnnotationEventType is the triggered event's type.
	AnnotationEventType = Domain + "event-type"
	// AnnotationEventID and AnnotationEventSource identify the triggered event.
	AnnotationEventID     = Domain + "event-id"
	AnnotationEventSource = Domain + "event-source"
	// AnnotationAction is the action's name as written in the jobconfig.
	AnnotationAction = Domain + "action"
	// AnnotationTasks is the JSON []TaskRef: which container runs which task.
	AnnotationTasks      = Domain + "tasks"
	AnnotationSilent     = Domain + "silent"
	AnnotationConfigHash = Domain + "config-hash"
	AnnotationConfigFile = Domain + "config-file"

	// AnnotationStarted is set once .started was sent (RFC 3339 time).
	AnnotationStarted = Domain + "started"
	// AnnotationStartClaim is "<holder> <RFC 3339 expiry>": the replica that
	// will send .started. The creator writes it into the Job it creates, so
	// the claim and the Job come into being atomically.
	AnnotationStartClaim = Domain + "start-claim"
	// AnnotationReportClaim is "<holder> <RFC 3339 expiry>" for .finished.
	AnnotationReportClaim = Domain + "report-claim"
	// AnnotationReported is set once .finished was sent (RFC 3339 time).
	AnnotationReported = Domain + "reported"
	// AnnotationInvalid carries a validation error for a record Job: a
	// suspended Job that never runs and exists only so the error's
	// .started/.finished are sent exactly once.
	AnnotationInvalid = Domain + "invalid"
	// AnnotationWaiting marks a placeholder Job: an action that matched but
	// had to wait (a registry, the API server) gets one so that Keptn has
	// its .started at once. Its value is the last cause. A placeholder never
	// sends .finished: the Job named AfterWaitName(placeholder) does, and
	// whoever creates that name first (the run, or the record that gives
	// up) owns it.
	AnnotationWaiting = Domain + "waiting"
	// AnnotationWaitingSince is when the wait began (RFC 3339): the
	// triggered event's time, so that the bound (RETRY_WINDOW) counts from
	// the same instant on every delivery and in the sweep.
	AnnotationWaitingSince = Domain + "waiting-since"
)

// FetcherContainer is the init container that fetches the tasks' files.
const FetcherContainer = "fetch-files"

// FetcherTokenEnv is the fetcher's variable holding the Keptn API token,
// the one place a Job may read the token Secret.
const FetcherTokenEnv = "KEPTN_API_TOKEN" //nolint:gosec // G101: the variable's name, not a token

// WorkspacePath is where the files land and where tasks share data.
const WorkspacePath = "/keptn"

// TaskRef maps a task of the action to the container that runs it.
type TaskRef struct {
	Name      string `json:"name"`
	Container string `json:"container"`
	// OnError is "warn" when a failure of this task only warns.
	OnError string `json:"onError,omitempty"`
}

// OriginOf reads the Origin annotation.
func OriginOf(job *batchv1.Job) (keptn.Origin, error) {
	var o keptn.Origin
	raw := job.Annotations[AnnotationOrigin]
	if raw == "" {
		return o, fmt.Errorf("job %s/%s has no %s annotation", job.Namespace, job.Name, AnnotationOrigin)
	}
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return o, fmt.Errorf("job %s/%s: annotation %s: %w", job.Namespace, job.Name, AnnotationOrigin, err)
	}
	return o, nil
}
