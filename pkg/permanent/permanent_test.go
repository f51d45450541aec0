package permanent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

var errSentinel = New(errors.New("bad input"))

func TestIsAndStatus(t *testing.T) {
	perm := New(errors.New("refused"))
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, http.StatusOK},
		{"unknown stays retryable", errors.New("?"), http.StatusServiceUnavailable},
		{"marked", perm, http.StatusBadRequest},
		{"marked, wrapped", fmt.Errorf("creating: %w", perm), http.StatusBadRequest},
		{"marked sentinel, wrapped", fmt.Errorf("%w: field x", errSentinel), http.StatusBadRequest},
		{"marked outside a join", New(fmt.Errorf("%w: %w", errSentinel, errors.New("cause"))), http.StatusBadRequest},
		{"join of permanent ones", errors.Join(perm, errSentinel), http.StatusBadRequest},
		{"join with an unknown one", errors.Join(perm, errors.New("api server down")), http.StatusServiceUnavailable},
		{"two %w, one unknown", fmt.Errorf("%w: %w", errSentinel, errors.New("cause")), http.StatusServiceUnavailable},
		{"join with nils", errors.Join(nil, perm, nil), http.StatusBadRequest},
		{"deadline", context.DeadlineExceeded, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Status(tt.err))
			assert.Equal(t, tt.want == http.StatusBadRequest, Is(tt.err))
		})
	}
	assert.NoError(t, New(nil))
	assert.ErrorIs(t, fmt.Errorf("x: %w", errSentinel), errSentinel, "errors.Is sees through the mark")
}
