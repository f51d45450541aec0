package launch

import (
	"errors"
)

// errOwed keeps an error retryable whatever its cause says (pkg/permanent:
// a join is permanent only if every branch is): Keptn is still owed this
// event's .started or .finished, and only a redelivery sends it, or, past
// RETRY_WINDOW, the give-up. A refusal by Keptn or a config Keptn cannot
// serve is final for that request, not for the task.
var errOwed = errors.New("a response to Keptn is still owed")

// owedError reads as its cause; errOwed is there for pkg/permanent's join
// rule and for errors.Is.
type owedError struct{ err error }

func (o owedError) Error() string   { return o.err.Error() }
func (o owedError) Unwrap() []error { return []error{o.err, errOwed} }

// owed marks err as one the Broker must retry; nil stays nil.
func owed(err error) error {
	if err == nil {
		return nil
	}
	return owedError{err}
}
