package keptnstandin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/keptn/go-utils/pkg/api/models"
	keptnv2 "github.com/keptn/go-utils/pkg/lib/v0_2_0"
)

// The second half of the contract: every body the stand-in routes is decoded
// with Keptn's own wire types from github.com/keptn/go-utils v0.20.4, the
// types Keptn's services and clients read them with. A body those types
// cannot hold is a violation, even where the OpenAPI document would let it
// pass.
//
// How strict, and why:
//
//   - The event envelope (models.KeptnContextExtendedCE) is decoded with
//     unknown fields disallowed. Keptn's api-service binds the body to its
//     model with encoding/json and silently drops every property it does not
//     know before it publishes the event (a structured-mode "datacontenttype"
//     or "traceparent", for example). A sender that puts something there
//     believes Keptn got it, and Keptn never sees it: for this project that
//     is a bug, so the stand-in answers 400 where Keptn would answer 200. The
//     api-service's own name for the spec version, "shkeptnversion", is in
//     the OpenAPI schema but not in go-utils' type, so it fails here: every
//     Keptn service decodes events with go-utils and would lose it.
//     Anything after the JSON object is refused as well (Keptn's decoder
//     stops at the end of the first value and ignores the rest).
//   - Event data is decoded with go-utils' v0_2_0 type for the event type
//     (TestFinishedEventData for sh.keptn.event.test.finished, EventData for
//     a task go-utils has no type for, ErrorLogEvent for sh.keptn.log.error),
//     with unknown fields ALLOWED: Keptn publishes data untouched, the spec
//     gives every task its own object next to the common fields, and the
//     function adds its tasks' structured results there. A known field of the
//     wrong type (a label that is a number, a test.start that is not a
//     string) fails: Keptn's services, which decode data with these types,
//     could not read the event.
//   - Responses of the stand-in (models.Resource, models.Resources,
//     models.EventContext, models.Error) are decoded with unknown fields
//     disallowed: the stand-in must not promise a field Keptn's clients
//     cannot read, and go-utils' required fields (resourceURI, keptnContext,
//     message) must be there. resourceContent must be standard base64, as
//     go-utils decodes it.

// decodeStrict decodes exactly one JSON value into out, refusing fields out
// has no place for and anything after the value.
func decodeStrict(body []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// typeName is "models.Resource" for a *models.Resource.
func typeName(v any) string { return strings.TrimPrefix(fmt.Sprintf("%T", v), "*") }

// checkEventWire decodes a POST /v1/event body with go-utils' types and says
// why they cannot hold it, or returns nil.
func checkEventWire(body []byte) error {
	var ce models.KeptnContextExtendedCE
	if err := decodeStrict(body, &ce); err != nil {
		return fmt.Errorf("go-utils %s cannot hold the event: %w", typeName(&ce), err)
	}
	if ce.Type == nil || ce.Source == nil {
		return fmt.Errorf("go-utils %s: type and source must be set", typeName(&ce))
	}
	data := eventDataFor(*ce.Type)
	if err := keptnv2.EventDataAs(ce, data); err != nil {
		return fmt.Errorf("go-utils %s cannot hold the data of %s: %w", typeName(data), *ce.Type, err)
	}
	return nil
}

// eventDataFor returns a pointer to go-utils' data type for an event type:
// the task's own started or finished type where go-utils has one, EventData
// otherwise.
func eventDataFor(eventType string) any {
	if eventType == keptnv2.ErrorLogEventName {
		return &keptnv2.ErrorLogEvent{}
	}
	parts := strings.Split(eventType, ".")
	if len(parts) != 5 { // sequence events, problems, anything unknown
		return &keptnv2.EventData{}
	}
	task, kind := parts[3], parts[4]
	switch kind {
	case "started":
		switch task {
		case keptnv2.TestTaskName:
			return &keptnv2.TestStartedEventData{}
		case keptnv2.DeploymentTaskName:
			return &keptnv2.DeploymentStartedEventData{}
		case keptnv2.EvaluationTaskName:
			return &keptnv2.EvaluationStartedEventData{}
		case keptnv2.ReleaseTaskName:
			return &keptnv2.ReleaseStartedEventData{}
		case keptnv2.RollbackTaskName:
			return &keptnv2.RollbackStartedEventData{}
		case keptnv2.ApprovalTaskName:
			return &keptnv2.ApprovalStartedEventData{}
		case keptnv2.ActionTaskName:
			return &keptnv2.ActionStartedEventData{}
		case keptnv2.GetSLITaskName:
			return &keptnv2.GetSLIStartedEventData{}
		case keptnv2.GetActionTaskName:
			return &keptnv2.GetActionStartedEventData{}
		case keptnv2.ConfigureMonitoringTaskName:
			return &keptnv2.ConfigureMonitoringStartedEventData{}
		}
	case "finished":
		switch task {
		case keptnv2.TestTaskName:
			return &keptnv2.TestFinishedEventData{}
		case keptnv2.DeploymentTaskName:
			return &keptnv2.DeploymentFinishedEventData{}
		case keptnv2.EvaluationTaskName:
			return &keptnv2.EvaluationFinishedEventData{}
		case keptnv2.ReleaseTaskName:
			return &keptnv2.ReleaseFinishedEventData{}
		case keptnv2.RollbackTaskName:
			return &keptnv2.RollbackFinishedEventData{}
		case keptnv2.ApprovalTaskName:
			return &keptnv2.ApprovalFinishedEventData{}
		case keptnv2.ActionTaskName:
			return &keptnv2.ActionFinishedEventData{}
		case keptnv2.GetSLITaskName:
			return &keptnv2.GetSLIFinishedEventData{}
		case keptnv2.GetActionTaskName:
			return &keptnv2.GetActionFinishedEventData{}
		case keptnv2.ConfigureMonitoringTaskName:
			return &keptnv2.ConfigureMonitoringFinishedEventData{}
		}
	}
	return &keptnv2.EventData{}
}

// checkResponseWire decodes an answer of the stand-in as go-utils' clients
// read it and says why they could not, or returns nil. A 2xx body is always
// JSON to them; an error body is read as models.Error when it is JSON, and as
// text otherwise (gin's, nginx's and net/http's plain-text answers).
func checkResponseWire(rt route, rep reply) error {
	if rep.status/100 != 2 {
		if mt, _, _ := mime.ParseMediaType(rep.contentType); mt != "application/json" {
			return nil
		}
		var e models.Error
		if err := decodeStrict(rep.body, &e); err != nil {
			return fmt.Errorf("go-utils %s cannot hold the answer: %w", typeName(&e), err)
		}
		if e.Message == nil {
			return fmt.Errorf("go-utils %s: message is missing", typeName(&e))
		}
		return nil
	}
	switch rt.op {
	case opPostEvent:
		var ec models.EventContext
		if err := decodeStrict(rep.body, &ec); err != nil {
			return fmt.Errorf("go-utils %s cannot hold the answer: %w", typeName(&ec), err)
		}
		if ec.KeptnContext == nil || *ec.KeptnContext == "" {
			return fmt.Errorf("go-utils %s: keptnContext is missing", typeName(&ec))
		}
	case opGetResource:
		var res models.Resource
		if err := decodeStrict(rep.body, &res); err != nil {
			return fmt.Errorf("go-utils %s cannot hold the answer: %w", typeName(&res), err)
		}
		return checkResource(&res, "")
	case opListResources:
		var list models.Resources
		if err := decodeStrict(rep.body, &list); err != nil {
			return fmt.Errorf("go-utils %s cannot hold the answer: %w", typeName(&list), err)
		}
		if list.Resources == nil {
			return fmt.Errorf("go-utils %s: resources is missing", typeName(&list))
		}
		for i, res := range list.Resources {
			if err := checkResource(res, fmt.Sprintf("resources[%d].", i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkResource checks the fields of a models.Resource that go-utils relies on.
func checkResource(res *models.Resource, at string) error {
	switch {
	case res == nil:
		return fmt.Errorf("go-utils models.Resource: %snull", at)
	case res.ResourceURI == nil:
		return fmt.Errorf("go-utils models.Resource: %sresourceURI is missing", at)
	}
	if _, err := base64.StdEncoding.DecodeString(res.ResourceContent); err != nil {
		return fmt.Errorf("go-utils models.Resource: %sresourceContent is not base64: %w", at, err)
	}
	return nil
}
