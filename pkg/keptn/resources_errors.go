package keptn

import (
	"errors"
	"fmt"
	"time"
)

// AuthError is a 401 or 403 from Keptn: the token is missing, wrong or lacks
// rights. Retrying does not help; the operator has to fix the Secret.
type AuthError struct {
	StatusCode int
	Op         string // what was attempted, without credentials
	Message    string // the server's message, token redacted
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s: Keptn refused the credentials (HTTP %d): %s", e.Op, e.StatusCode, e.Message)
}

// IsAuthError reports whether err is or wraps an *AuthError.
func IsAuthError(err error) bool {
	var a *AuthError
	return errors.As(err, &a)
}

// RetryableError marks a failure that may go away by itself: a 5xx, 408, 429,
// a timeout or a refused connection. Callers answer 5xx so the broker
// redelivers, or retry with backoff.
type RetryableError struct {
	StatusCode int // 0 when no HTTP answer arrived
	// RetryAfter is the server's Retry-After (429, 503), 0 if it gave none.
	RetryAfter time.Duration
	Err        error
}

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// IsRetryable reports whether err is or wraps a *RetryableError.
func IsRetryable(err error) bool {
	var r *RetryableError
	return errors.As(err, &r)
}

// StatusError is any other unexpected answer (400, 424, 3xx, a malformed or
// oversized body). It is neither "not found" nor worth retrying.
type StatusError struct {
	StatusCode int
	Op         string
	Message    string
	Err        error // the underlying cause, if any
}

func (e *StatusError) Unwrap() error { return e.Err }

func (e *StatusError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("%s: %s", e.Op, e.Message)
	}
	return fmt.Sprintf("%s: unexpected HTTP %d from Keptn: %s", e.Op, e.StatusCode, e.Message)
}
