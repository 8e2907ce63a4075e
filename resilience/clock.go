package resilience

import "time"

// Clock is the time source of the package. The client uses it for backoff
// and Retry-After waits, the hedge delay, the retry budget's window, the
// breaker's open period and Retry-After hints, ejection times, the
// success-rate interval, the resolver's period, and call durations; the
// token cache for its TTLs. Context deadlines
// (Policy.Timeout, Policy.AttemptTimeout, X-Request-Budget-Ms) stay on the
// real clock, because the network stack enforces them.
//
// resilience/clocktest has a fake for tests.
type Clock interface {
	Now() time.Time
	// After fires once d has passed. d <= 0 fires at once.
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
