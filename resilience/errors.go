package resilience

import (
	"errors"
	"strconv"
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
	// ErrUpstream means the upstream kept failing (connection error, 502,
	// 503 or 504) until attempts ran out.
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

// UpstreamError is returned when the client gave up on an upstream: attempts
// or the retry budget ran out on connection errors, timeouts, 502, 503 or
// 504, the upstream asked for a Retry-After longer than the policy
// allows, or Policy.Timeout ended the call. It matches ErrUpstream and Err
// with errors.Is (Err is ErrBudgetExhausted- or ErrDeadline-wrapped when one
// of those stopped the retries).
type UpstreamError struct {
	// Upstream is Config.Name.
	Upstream string
	// Status is the last HTTP status received, 0 if the last attempt got no
	// response.
	Status int
	// Attempts is how many attempts went on the wire.
	Attempts int
	// Wait is the upstream's Retry-After, if it sent one.
	Wait time.Duration
	// Problem is the body of the last answer when it was an RFC 9457
	// application/problem+json document of at most MaxProblemBytes: the
	// upstream's own account of why it is unavailable, for a proxy to pass
	// on. Nil otherwise.
	Problem []byte
	// Err is the cause.
	Err error
}

// MaxProblemBytes bounds UpstreamError.Problem; a longer body is dropped.
const MaxProblemBytes = 4 << 10

func (e *UpstreamError) Error() string {
	msg := "upstream " + e.Upstream + " unavailable after " + strconv.Itoa(e.Attempts) + " attempt(s)"
	if e.Status != 0 {
		msg += ", last status " + strconv.Itoa(e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrUpstream and the cause.
func (e *UpstreamError) Unwrap() []error { return nonNil(ErrUpstream, e.Err) }

// RetryAfter is the upstream's Retry-After when it sent one, else one second.
func (e *UpstreamError) RetryAfter() time.Duration { return ceilSecond(e.Wait) }

// OpenError is returned when the upstream's breaker refused a call. It
// matches ErrOpen with errors.Is.
type OpenError struct {
	// Upstream is Config.Name.
	Upstream string
	// Wait is how long the breaker stays open, as far as it knows.
	Wait time.Duration
	// Last is the error of the previous attempt when the breaker opened in
	// the middle of a call's retries, else nil.
	Last error
}

func (e *OpenError) Error() string {
	msg := "upstream " + e.Upstream + ": " + ErrOpen.Error()
	if e.Last != nil {
		msg += " (after: " + e.Last.Error() + ")"
	}
	return msg
}

// Unwrap returns ErrOpen and the previous attempt's error, if any.
func (e *OpenError) Unwrap() []error { return nonNil(ErrOpen, e.Last) }

func nonNil(sentinel, cause error) []error {
	if cause == nil {
		return []error{sentinel}
	}
	return []error{sentinel, cause}
}

// RetryAfter is the time left in the open interval, rounded up to whole
// seconds, at least one second.
func (e *OpenError) RetryAfter() time.Duration { return ceilSecond(e.Wait) }

// ceilSecond rounds d up to whole seconds, at least one: Retry-After has
// second granularity and 0 would invite an immediate retry.
func ceilSecond(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1) / time.Second * time.Second
}
