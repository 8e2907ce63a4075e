package resilience

import (
	"errors"
	"time"
)

// Sentinel errors. Every error the client returns for a call it refused or
// gave up on wraps one of these, so callers can check with errors.Is.
var (
	// ErrOpen means the upstream's circuit breaker is open (or half-open and
	// out of probes); the call was refused without touching the network.
	ErrOpen = errors.New("circuit breaker open")
	// ErrBulkheadFull means the upstream's concurrency cap was reached.
	ErrBulkheadFull = errors.New("bulkhead full")
	// ErrBudgetExhausted means a retry was refused by the retry budget; the
	// error of the last attempt is wrapped too.
	ErrBudgetExhausted = errors.New("retry budget exhausted")
	// ErrDeadline means the caller's deadline left no time for the call.
	ErrDeadline = errors.New("deadline exceeded")
	// ErrUpstream means the upstream kept failing (connection error, 5xx or
	// 429) until attempts ran out.
	ErrUpstream = errors.New("upstream unavailable")
)

// Unavailable is implemented by errors that know when the upstream may be
// worth trying again (an open breaker knows its open interval, a 503 its
// Retry-After).
type Unavailable interface {
	error
	RetryAfter() time.Duration
}

// RetryAfter returns how long a client should wait before retrying after err,
// and whether err means the upstream is unavailable at all (as opposed to a
// bug or a 4xx). Callers turn it into 503 with Retry-After.
func RetryAfter(err error) (time.Duration, bool) {
	var u Unavailable
	if errors.As(err, &u) {
		return u.RetryAfter(), true
	}
	switch {
	case errors.Is(err, ErrOpen), errors.Is(err, ErrBulkheadFull),
		errors.Is(err, ErrBudgetExhausted), errors.Is(err, ErrUpstream):
		return time.Second, true
	case errors.Is(err, ErrDeadline):
		return time.Second, true
	}
	return 0, false
}
