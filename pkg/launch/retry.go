package launch

import "errors"

// retryable marks errors the broker should retry (HTTP 5xx).
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retryable wraps err so IsRetryable reports true.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}

// IsRetryable reports whether err, or any error joined into it, is worth a
// redelivery.
func IsRetryable(err error) bool {
	var r retryable
	return errors.As(err, &r)
}
