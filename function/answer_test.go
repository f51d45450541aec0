package function

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/keptn"
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"
	"github.com/keptn-sandbox/job-executor-knative/pkg/reporter"
	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

// TestAnswer: what the Broker hears, from the one mapping
// (permanent.Status). A refusal no redelivery can change is 400, never a
// 5xx that cycles to the dead letter (issue 16 point 5), and the answer's
// text is bounded whatever the error quotes.
func TestAnswer(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"unknown stays retryable", errors.New("?"), http.StatusServiceUnavailable},
		{"permanent", permanent.New(errors.New("record refused")), http.StatusBadRequest},
		{"permanent joined with one that may pass", errors.Join(permanent.New(errors.New("a")), errors.New("b")), http.StatusServiceUnavailable},
		{"not started", errNotStarted, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertStatus(t, tt.want, answer(tt.err))
		})
	}
	var r *cehttp.Result
	require.ErrorAs(t, answer(errors.New(strings.Repeat("x", 1<<20))), &r)
	assert.Less(t, len(r.Error()), 5<<10, "the answer never carries an unbounded error")
}

func assertStatus(t *testing.T, want int, res error) {
	t.Helper()
	if want == 0 {
		assert.NoError(t, res)
		return
	}
	var r *cehttp.Result
	require.ErrorAs(t, res, &r)
	assert.Equal(t, want, r.StatusCode)
}

// TestAnswerKeepsTheOldClassifiersStatuses: the cases each old classifier
// (launch.IsRetryable/IsPermanent, reporter.IsRetryable,
// sink.SendError.Retryable, keptn.IsRetryable) decided, as the errors
// their packages now return, answered as before. Two kinds changed, both
// on purpose (docs/design.md, "Retry"): 500 is no longer answered (an
// error nobody classified is 503, retried as 500 was), and what the old
// reporter classifier itself called "not retryable" (a Job that cannot be
// reported, a .finished too large, RBAC, Keptn's 4xx to .finished) is now
// 400 instead of a 500 the source redelivered for nothing: the sweep
// retries unreported Jobs anyway.
func TestAnswerKeepsTheOldClassifiersStatuses(t *testing.T) {
	jobsGR := schema.GroupResource{Group: "batch", Resource: "jobs"}
	keptnDown := &resources.RetryableError{StatusCode: 503, Err: errors.New("HTTP 503 from Keptn")}
	tests := []struct {
		name     string
		err      error
		old, now int
	}{
		// launch: Retryable → 503, Permanent or keptn.ErrMalformed → 400, else 500.
		{"launch: API server down", fmt.Errorf("creating job: %w", apierrors.NewServiceUnavailable("down")), 503, 503},
		{"launch: record refused for good", permanent.New(apierrors.NewForbidden(jobsGR, "j", errors.New("namespace gone"))), 400, 400},
		{"launch: malformed event", permanent.New(fmt.Errorf("%w: data is empty", keptn.ErrMalformed)), 400, 400},
		{"launch: unclassified", errors.New("?"), 500, 503},
		// reporter.IsRetryable: ErrBadEvent → 400, retryable → 503, else 500.
		{"reporter: bad event", fmt.Errorf("%w: type %q", reporter.ErrBadEvent, "x"), 400, 400},
		{"reporter: Keptn down", &sink.SendError{Status: 503, Err: errors.New("down")}, 503, 503},
		{"reporter: deadline", fmt.Errorf("sending: %w", context.DeadlineExceeded), 503, 503},
		{"reporter: conflict", apierrors.NewConflict(jobsGR, "j", errors.New("stale")), 503, 503},
		{"reporter: bad job", permanent.New(fmt.Errorf("%w: %w", reporter.ErrBadJob, errors.New("annotation"))), 500, 400},
		{"reporter: too large", fmt.Errorf("%w: 70000 bytes", finished.ErrTooLarge), 500, 400},
		// sink.SendError.Retryable: 5xx, 408, 429 and no answer retry.
		{"sink: no answer", sinkErr(t, 0), 503, 503},
		{"sink: 502", sinkErr(t, 502), 503, 503},
		{"sink: 400 to .finished", sinkErr(t, 400), 500, 400},
		// keptn: RetryableError retried; the function retried every config
		// load within RETRY_WINDOW (launch wraps it, see pkg/launch owed).
		{"keptn: resource-service down", fmt.Errorf("fetching job/config.yaml: %w", keptnDown), 503, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertStatus(t, tt.now, answer(tt.err))
			assert.Equal(t, tt.old >= 500, tt.now >= 500 || tt.old == 500 && tt.now == 400,
				"a retried case stays retried unless it is a documented change")
		})
	}
}

// sinkErr is the error the sink gives when Keptn's API answers status (0:
// nothing listens).
func sinkErr(t *testing.T, status int) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "refused", status)
	}))
	t.Cleanup(srv.Close)
	if status == 0 {
		srv.Close()
	}
	ev := event.New()
	ev.SetID("1")
	ev.SetSource("test")
	ev.SetType("sh.keptn.event.test.finished")
	require.NoError(t, ev.SetData(event.ApplicationJSON, map[string]string{"project": "p"}))
	err := sink.NewKeptnAPI(srv.URL, "t", nil).Send(context.Background(), ev)
	require.Error(t, err)
	return err
}
