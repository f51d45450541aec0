package sink

import (
	"github.com/keptn-sandbox/job-executor-knative/pkg/permanent"

	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func finished() event.Event {
	ev := event.New()
	ev.SetID("e1")
	ev.SetType("sh.keptn.event.test.finished")
	ev.SetSource("job-executor-knative")
	ev.SetTime(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	ev.SetExtension("shkeptncontext", "ctx-1")
	ev.SetExtension("triggeredid", "t1")
	ev.SetExtension("gitcommitid", "abc")
	ev.SetExtension("shkeptnspecversion", "0.2.4")
	ev.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	_ = ev.SetData(event.ApplicationJSON, map[string]string{"project": "p", "stage": "s", "service": "v", "status": "succeeded", "result": "pass"})
	return ev
}

func TestKeptnAPISendsKeptnsWireForm(t *testing.T) {
	var got map[string]any
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/api/v1/event", r.URL.Path)
		header = r.Header.Clone()
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		_, _ = io.WriteString(w, `{"keptnContext":"ctx-1"}`)
	}))
	defer srv.Close()
	k := NewKeptnAPI(srv.URL+"/api/", "s3cret", nil)
	require.NoError(t, k.Send(context.Background(), finished()))
	assert.Equal(t, "s3cret", header.Get("x-token"))
	assert.Equal(t, "application/json", header.Get("Content-Type"))
	assert.Equal(t, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", header.Get("traceparent"))
	assert.Equal(t, "application/json", got["contenttype"], "Keptn's model says contenttype, not datacontenttype")
	assert.Equal(t, "ctx-1", got["shkeptncontext"])
	assert.Equal(t, "t1", got["triggeredid"])
	assert.Equal(t, "abc", got["gitcommitid"])
	assert.Equal(t, "sh.keptn.event.test.finished", got["type"])
	assert.Equal(t, map[string]any{"project": "p", "stage": "s", "service": "v", "status": "succeeded", "result": "pass"}, got["data"])
	assert.NotContains(t, got, "traceparent", "not part of Keptn's event model")
}

func TestKeptnAPIErrorsSayWhetherToRetry(t *testing.T) {
	tests := []struct {
		status    int
		retryable bool
	}{
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusRequestTimeout, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusServiceUnavailable, true},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = io.WriteString(w, `{"code":1,"message":"nope"}`)
		}))
		err := NewKeptnAPI(srv.URL, "t", nil).Send(context.Background(), finished())
		srv.Close()
		require.Error(t, err)
		assert.Equal(t, tt.retryable, !permanent.Is(err), "status %d", tt.status)
		assert.Contains(t, err.Error(), "nope")
	}
}

func TestKeptnAPIUnreachableIsRetryableAndHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	err := NewKeptnAPI(url, "s3cret-token", nil).Send(context.Background(), finished())
	require.Error(t, err)
	assert.False(t, permanent.Is(err))
	assert.NotContains(t, err.Error(), "s3cret-token")
}

func TestCloudEventsSendsBinaryMode(t *testing.T) {
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Clone()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c, err := NewCloudEvents(srv.URL, nil)
	require.NoError(t, err)
	require.NoError(t, c.Send(context.Background(), finished()))
	assert.Equal(t, "sh.keptn.event.test.finished", header.Get("Ce-Type"))
	assert.Equal(t, "t1", header.Get("Ce-Triggeredid"))
}

func TestCloudEventsStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, err := NewCloudEvents(srv.URL, nil)
	require.NoError(t, err)
	err = c.Send(context.Background(), finished())
	require.Error(t, err)
	assert.False(t, permanent.Is(err))
}

func TestLogWritesOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	l := &Log{W: &buf}
	require.NoError(t, l.Send(context.Background(), finished()))
	require.NoError(t, l.Send(context.Background(), finished()))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	var ev event.Event
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &ev))
	assert.Equal(t, "e1", ev.ID())
}
