package sink

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gateway answers 429 to the first tooMany requests, as Keptn's
// api-gateway-nginx does after failed logins from the client's address.
func gateway(t *testing.T, tooMany int32, retryAfter string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= tooMany {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"code":429, "message":"too many requests"}`))
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"keptnContext":"c"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func backoffEvent() event.Event {
	ev := event.New()
	ev.SetID("1")
	ev.SetSource("s")
	ev.SetType("sh.keptn.event.test.started")
	_ = ev.SetData(event.ApplicationJSON, map[string]string{"project": "p"})
	return ev
}

func TestSinksRideOutTooManyRequests(t *testing.T) {
	saved := defaultTooMany
	defaultTooMany.initial = 20 * time.Millisecond
	t.Cleanup(func() { defaultTooMany = saved })
	senders := map[string]func(url string) Sender{
		"keptn api": func(url string) Sender { return NewKeptnAPI(url, "tok", nil) },
		"cloudevents": func(url string) Sender {
			s, err := NewCloudEvents(url, nil)
			require.NoError(t, err)
			return s
		},
	}
	for sname, newSender := range senders {
		for name, tc := range map[string]struct {
			tooMany    int32
			retryAfter string
			ok         bool
			calls      int32
			atLeast    time.Duration
		}{
			"two 429 then accepted":          {2, "", true, 3, 0},
			"Retry-After is honoured":        {1, "1", true, 2, time.Second},
			"a Retry-After too long is left": {1, "120", false, 1, 0},
			"attempts run out":               {100, "", false, 5, 0},
		} {
			t.Run(sname+"/"+name, func(t *testing.T) {
				srv, calls := gateway(t, tc.tooMany, tc.retryAfter)
				begin := time.Now()
				err := newSender(srv.URL).Send(context.Background(), backoffEvent())
				if tc.ok {
					require.NoError(t, err)
				} else {
					require.Error(t, err)
					assert.False(t, permanent.Is(err), "429 is retryable: %v", err)
				}
				assert.Equal(t, tc.calls, calls.Load())
				assert.GreaterOrEqual(t, time.Since(begin), tc.atLeast)
			})
		}
	}
}
