// Package permanent is the service's one rule for retrying: an error is
// worth another try unless it is marked permanent here. Every caller that
// answers the Broker (function/), retries a call (the fetcher) or logs a
// failure asks Is; nothing else decides "retryable". An error nobody marked
// is retried, because a lost .started or .finished hangs a Keptn sequence
// while a useless retry only costs a request.
//
// It is knative.dev/pkg's controller.NewPermanentError/IsPermanentError
// with one difference, and ours for two reasons. The difference: in a join
// (errors.Join, fmt.Errorf with several %w) every branch must be permanent,
// since a join is several failures and one that may pass is worth the
// retry; knative's errors.As answers true if any branch is marked, which
// would answer 400 for an event whose other action only met an API server
// hiccup. It imports nothing of Kubernetes, so the fetcher can use it
// (design_test.go). The cost: knative.dev/pkg/controller brings informers, workqueue,
// zap and its metrics into a binary that uses none of them
// (docs/design.md, "Libraries").
package permanent

import "net/http"

type marked struct{ err error }

func (m marked) Error() string { return m.err.Error() }
func (m marked) Unwrap() error { return m.err }

// New marks err as one no retry can fix; nil stays nil.
func New(err error) error {
	if err == nil {
		return nil
	}
	return marked{err}
}

// Is reports whether err is marked permanent: err or an error it wraps was
// marked by New, and, where err joins several errors, every one of them is
// permanent. nil is not permanent.
func Is(err error) bool {
	for err != nil {
		if _, ok := err.(marked); ok { //nolint:errorlint // the walk below is errors.As's, with the join rule
			return true
		}
		switch u := err.(type) { //nolint:errorlint // as above
		case interface{ Unwrap() []error }:
			branches := u.Unwrap()
			for _, b := range branches {
				if b != nil && !Is(b) {
					return false
				}
			}
			return len(branches) > 0
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

// Status is the one mapping from an error to the HTTP status the function
// answers the Broker or a source with: 200 for nil, 400 (final: the Broker
// does not redeliver) for a permanent error, 503 (the Broker redelivers
// with back-off) for every other.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case Is(err):
		return http.StatusBadRequest
	default:
		return http.StatusServiceUnavailable
	}
}
