package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWith(t *testing.T) {
	base := With(context.Background(), "event_id", "e1", "shkeptncontext", "c1")
	tests := []struct {
		name string
		ctx  context.Context
		want map[string]any
	}{
		{"nothing carried", context.Background(), map[string]any{}},
		{"pairs", base, map[string]any{"event_id": "e1", "shkeptncontext": "c1"}},
		{"added", With(base, "job", "ns/j1"), map[string]any{"event_id": "e1", "shkeptncontext": "c1", "job": "ns/j1"}},
		{"replaced", With(With(base, "job", "ns/j1"), "job", "ns/j2"), map[string]any{"event_id": "e1", "shkeptncontext": "c1", "job": "ns/j2"}},
		{"attr values", With(base, slog.Int("n", 3)), map[string]any{"event_id": "e1", "shkeptncontext": "c1", "n": float64(3)}},
		{"duplicate in one call: last wins", With(context.Background(), "k", "a", "k", "b"), map[string]any{"k": "b"}},
		{"nothing added", With(base), map[string]any{"event_id": "e1", "shkeptncontext": "c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := logged(t, tt.ctx)
			delete(got, "time")
			delete(got, "level")
			delete(got, "msg")
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWithDoesNotChangeTheParent(t *testing.T) {
	parent := With(context.Background(), "event_id", "e1")
	_ = With(parent, "job", "ns/j1")
	_ = With(parent, "event_id", "other")
	got := logged(t, parent)
	assert.Equal(t, "e1", got["event_id"])
	assert.NotContains(t, got, "job")
}

func TestHandlerKeepsLoggerAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With("replica", "r1")
	log.InfoContext(With(context.Background(), "job", "ns/j"), "created job", "n", 1)
	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got))
	assert.Equal(t, "r1", got["replica"])
	assert.Equal(t, "ns/j", got["job"])
	assert.Equal(t, float64(1), got["n"])
	assert.Equal(t, "created job", got["msg"])
}

func TestHandlerWithoutContextAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	log.Info("plain")
	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got))
	assert.Equal(t, "plain", got["msg"])
	assert.Len(t, got, 3, "time, level and msg only: %v", got)
}

func logged(t *testing.T, ctx context.Context) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).InfoContext(ctx, "line")
	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got), buf.String())
	return got
}
