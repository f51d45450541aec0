package reporter

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/keptn-sandbox/job-executor-knative/pkg/finished"
	"github.com/keptn-sandbox/job-executor-knative/pkg/verdict/verdicttest"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keptn-sandbox/job-executor-knative/pkg/sink"
)

// limitedKeptn refuses bodies over limit as Keptn's api-service does with a
// lowered MAX_EVENT_SIZE_KB, and records what it took.
type limitedKeptn struct {
	next    *recorder
	limit   int
	refused int
}

func (l *limitedKeptn) Send(ctx context.Context, ev event.Event) error {
	body, err := sink.KeptnBody(ev)
	if err != nil {
		return err
	}
	if len(body) > l.limit {
		l.refused++
		return &sink.SendError{Status: http.StatusBadRequest, Err: errors.New(`{"code":400,"message":"parsing body body from \"\" failed, because http: request body too large"}`)}
	}
	return l.next.Send(ctx, ev)
}

func TestReconcileShrinksWhatKeptnRefusesAsTooLarge(t *testing.T) {
	for name, tc := range map[string]struct {
		limit       int
		refused     int
		wantInMsg   []string
		wantLogTail bool
	}{
		"fits the budget":       {finished.KeptnMaxEventBytes, 0, []string{"exit code 3"}, true},
		"shorter head and tail": {12 << 10, 1, []string{"exit code 3", "bytes cut ...]"}, true},
		"one line with the pod": {1 << 10, 2, []string{"fail (errored): ", "see Job " + verdicttest.Ns + "/", "pod " + verdicttest.PodName}, false},
	} {
		t.Run(name, func(t *testing.T) {
			b := newBed(failedJob(), failedPod())
			b.logs.logs[verdicttest.PodName+"/"+verdicttest.C0] = verdicttest.NoisyLog(40000) + "FATAL: the real reason\n"
			keptnAPI := &limitedKeptn{next: b.sink, limit: tc.limit}
			r := b.reconciler(t, "a")
			r.Sender.Sink = keptnAPI
			r.Config.Log = slog.New(slog.DiscardHandler)

			out, err := r.Reconcile(context.Background(), failedJob())
			require.NoError(t, err)
			assert.True(t, out.Reported)
			assert.Equal(t, tc.refused, keptnAPI.refused)
			data := b.sink.finished(t)
			assert.Equal(t, "fail", data["result"])
			msg := data["message"].(string)
			for _, w := range tc.wantInMsg {
				assert.Contains(t, msg, w)
			}
			assert.Equal(t, tc.wantLogTail, strings.Contains(msg, "FATAL: the real reason"))
		})
	}
}

func TestIsTooLarge(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"api-service":      {&sink.SendError{Status: 400, Err: errors.New(`parsing body body from "" failed, because http: request body too large`)}, true},
		"proxy 413":        {&sink.SendError{Status: 413, Err: errors.New("Request Entity Too Large")}, true},
		"another 400":      {&sink.SendError{Status: 400, Err: errors.New("result field is not set")}, false},
		"503":              {&sink.SendError{Status: 503, Err: errors.New("down")}, false},
		"not a send error": {errors.New("request body too large"), false},
		"nil":              {nil, false},
	} {
		t.Run(name, func(t *testing.T) { assert.Equal(t, tc.want, IsTooLarge(tc.err)) })
	}
}
