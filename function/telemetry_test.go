package function

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"errors"
	"fmt"
	"net/http"
	"testing"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"

	"github.com/keptn-sandbox/job-executor-knative/pkg/launch"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
)

func TestTriggeredOutcome(t *testing.T) {
	tests := []struct {
		out  launch.Outcome
		err  error
		want string
	}{
		{launch.Outcome{}, nil, outcomeIgnored},
		{launch.Outcome{Matched: 1, Created: 1}, nil, outcomeCreated},
		{launch.Outcome{Matched: 2, Created: 1, Existing: 1}, nil, outcomeCreated},
		{launch.Outcome{Matched: 1, Existing: 1}, nil, outcomeDuplicate},
		{launch.Outcome{Matched: 2, Created: 1, Invalid: 1}, nil, outcomeInvalid},
		{launch.Outcome{Matched: 1}, errors.New("api server down"), outcomeRetry},
		{launch.Outcome{Matched: 1}, permanent.New(errors.New("record refused")), outcomeMalformed},
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
		{answer(fmt.Errorf("%w: kind Secret", reporter.ErrBadEvent)), outcomeMalformed},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, errorOutcome(tt.answer), "%v", tt.answer)
	}
}
