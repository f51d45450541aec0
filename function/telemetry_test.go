package function

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"

	"github.com/keptn-sandbox/job-executor-knative/pkg/report"
	"github.com/keptn-sandbox/job-executor-knative/pkg/trigger"
)

func TestTriggeredOutcome(t *testing.T) {
	tests := []struct {
		out  trigger.Outcome
		err  error
		want string
	}{
		{trigger.Outcome{}, nil, outcomeIgnored},
		{trigger.Outcome{Matched: 1, Created: 1}, nil, outcomeCreated},
		{trigger.Outcome{Matched: 2, Created: 1, Existing: 1}, nil, outcomeCreated},
		{trigger.Outcome{Matched: 1, Existing: 1}, nil, outcomeDuplicate},
		{trigger.Outcome{Matched: 2, Created: 1, Invalid: 1}, nil, outcomeInvalid},
		{trigger.Outcome{Matched: 1}, trigger.Retryable(errors.New("api server down")), outcomeRetry},
		{trigger.Outcome{Matched: 1}, errors.New("unexpected"), outcomeError},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, triggeredOutcome(tt.out, tt.err), "%+v %v", tt.out, tt.err)
	}
}

func TestErrorOutcome(t *testing.T) {
	tests := []struct {
		answer error
		want   string
	}{
		{nil, outcomeHandled},
		{cehttp.NewResult(http.StatusBadRequest, "bad"), outcomeMalformed},
		{cehttp.NewResult(http.StatusServiceUnavailable, "later"), outcomeRetry},
		{cehttp.NewResult(http.StatusInternalServerError, "boom"), outcomeError},
		{errors.New("not a result"), outcomeError},
		{reportAnswer(fmt.Errorf("%w: kind Secret", report.ErrBadEvent)), outcomeMalformed},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, errorOutcome(tt.answer), "%v", tt.answer)
	}
}
