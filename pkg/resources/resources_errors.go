package resources

import (
	"errors"
	"fmt"
	"time"
)

// AuthError is a 401 or 403 from Keptn: the token is missing, wrong or lacks
// rights. Retrying does not help (the client marks it permanent); the
// operator has to fix the Secret.
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

// RetryableError is a failure that may go away by itself: a 5xx, 408, 429,
// a timeout or a refused connection. Like every error not marked by
// pkg/permanent it is retried; the type carries what a retry needs (the
// status, the server's Retry-After).
type RetryableError struct {
	StatusCode int // 0 when no HTTP answer arrived
	// RetryAfter is the server's Retry-After (429, 503), 0 if it gave none.
	RetryAfter time.Duration
	Err        error
}

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// StatusError is any other unexpected answer (400, 424, 3xx, a malformed or
// oversized body, a TLS failure). It is neither "not found" nor worth
// retrying (the client marks it permanent).
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
