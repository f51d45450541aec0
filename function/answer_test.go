package function

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/launch"
)

// TestAnswer: what the Broker hears. A refusal no redelivery can change is
// 400, never a 5xx that cycles to the dead letter (issue 16 point 5), and
// the answer's text is bounded whatever the error quotes.
func TestAnswer(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"retryable", launch.Retryable(errors.New("apiserver down")), http.StatusServiceUnavailable},
		{"malformed", fmt.Errorf("%w: attribute id is 307200 bytes", keptn.ErrMalformed), http.StatusBadRequest},
		{"permanent", launch.Permanent(errors.New("record refused")), http.StatusBadRequest},
		{"permanent joined with retryable", errors.Join(launch.Permanent(errors.New("a")), launch.Retryable(errors.New("b"))), http.StatusServiceUnavailable},
		{"unknown", errors.New("?"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := answer(tt.err)
			if tt.want == 0 {
				assert.NoError(t, res)
				return
			}
			var r *cehttp.Result
			require.ErrorAs(t, res, &r)
			assert.Equal(t, tt.want, r.StatusCode)
		})
	}
	var r *cehttp.Result
	require.ErrorAs(t, answer(launch.Retryable(errors.New(strings.Repeat("x", 1<<20)))), &r)
	assert.Less(t, len(r.Error()), 5<<10, "the answer never carries an unbounded error")
}
