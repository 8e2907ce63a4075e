package resilience

import (
	"errors"
	"fmt"
	"time"
)

// Policy holds the tunables for one upstream. Every zero field takes the
// default written beside it, so Policy{} is a sensible production policy.
// Negative values are a configuration error returned by New.
type Policy struct {
	// Timeout bounds the whole logical call, retries and waits included.
	// Default 5s. It never extends the caller's context deadline.
	Timeout time.Duration
	// AttemptTimeout bounds one attempt, reading the response body included.
	// Default 1s.
	AttemptTimeout time.Duration
	// MaxAttempts is the number of attempts of one call; 1 means no retries.
	// Default 3.
	MaxAttempts int
	// BackoffInitial is the first backoff ceiling. Default 50ms.
	BackoffInitial time.Duration
	// BackoffMax caps the exponential backoff ceiling. Default 1s. The wait
	// is drawn uniformly from [0, ceiling) ("full jitter").
	BackoffMax time.Duration
	// MaxRetryAfter caps an honoured Retry-After: an upstream asking for a
	// longer wait is not retried, the call fails with ErrUpstream carrying
	// the upstream's Retry-After. Default 2s.
	MaxRetryAfter time.Duration
	// BudgetRatio: retries in the window may not exceed BudgetRatio times
	// the calls in the window, plus BudgetMinRetries. Default 0.2.
	BudgetRatio float64
	// BudgetMinRetries is the small floor of retries always allowed per
	// window, so that a quiet upstream can still be retried. Default 3.
	BudgetMinRetries int
	// BudgetWindow is the budget's sliding window. Default 10s.
	BudgetWindow time.Duration
	// BreakerWindow is the breaker's rolling window (gobreaker Interval,
	// in ten buckets of BucketPeriod). Default 10s.
	BreakerWindow time.Duration
	// BreakerMinRequests is the number of counted attempts in the window
	// before the breaker may trip. Default 10.
	BreakerMinRequests uint32
	// BreakerFailureRatio trips the breaker when failures/counted attempts
	// reaches it. Default 0.5.
	BreakerFailureRatio float64
	// BreakerOpenTimeout is how long the breaker stays open before it lets
	// probes through (half-open). Default 5s.
	BreakerOpenTimeout time.Duration
	// BreakerHalfOpenProbes is how many probes half-open lets through; that
	// many successes in a row close the breaker, one failure reopens it.
	// Default 3.
	BreakerHalfOpenProbes uint32
	// MaxConcurrent caps attempts in flight to the upstream (the bulkhead);
	// an attempt over the cap is refused at once. Default 64.
	MaxConcurrent int
	// DisableBreaker removes the breaker, for experiments that show what it
	// is worth.
	DisableBreaker bool
}

// Defaults.
const (
	DefaultTimeout               = 5 * time.Second
	DefaultAttemptTimeout        = time.Second
	DefaultMaxAttempts           = 3
	DefaultBackoffInitial        = 50 * time.Millisecond
	DefaultBackoffMax            = time.Second
	DefaultMaxRetryAfter         = 2 * time.Second
	DefaultBudgetRatio           = 0.2
	DefaultBudgetMinRetries      = 3
	DefaultBudgetWindow          = 10 * time.Second
	DefaultBreakerWindow         = 10 * time.Second
	DefaultBreakerMinRequests    = 10
	DefaultBreakerFailureRatio   = 0.5
	DefaultBreakerOpenTimeout    = 5 * time.Second
	DefaultBreakerHalfOpenProbes = 3
	DefaultMaxConcurrent         = 64
)

// ErrConfig is wrapped by every configuration error New returns.
var ErrConfig = errors.New("invalid resilience config")

func (p Policy) withDefaults() (Policy, error) {
	if p.Timeout < 0 || p.AttemptTimeout < 0 || p.MaxAttempts < 0 ||
		p.BackoffInitial < 0 || p.BackoffMax < 0 || p.MaxRetryAfter < 0 ||
		p.BudgetRatio < 0 || p.BudgetMinRetries < 0 || p.BudgetWindow < 0 ||
		p.BreakerWindow < 0 || p.BreakerFailureRatio < 0 || p.BreakerFailureRatio > 1 ||
		p.BreakerOpenTimeout < 0 || p.MaxConcurrent < 0 {
		return p, fmt.Errorf("%w: negative value, or failure ratio above 1, in %+v", ErrConfig, p)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.Timeout, DefaultTimeout)
	def(&p.AttemptTimeout, DefaultAttemptTimeout)
	def(&p.BackoffInitial, DefaultBackoffInitial)
	def(&p.BackoffMax, DefaultBackoffMax)
	def(&p.MaxRetryAfter, DefaultMaxRetryAfter)
	def(&p.BudgetWindow, DefaultBudgetWindow)
	def(&p.BreakerWindow, DefaultBreakerWindow)
	def(&p.BreakerOpenTimeout, DefaultBreakerOpenTimeout)
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BudgetRatio == 0 {
		p.BudgetRatio = DefaultBudgetRatio
	}
	if p.BudgetMinRetries == 0 {
		p.BudgetMinRetries = DefaultBudgetMinRetries
	}
	if p.BreakerMinRequests == 0 {
		p.BreakerMinRequests = DefaultBreakerMinRequests
	}
	if p.BreakerFailureRatio == 0 {
		p.BreakerFailureRatio = DefaultBreakerFailureRatio
	}
	if p.BreakerHalfOpenProbes == 0 {
		p.BreakerHalfOpenProbes = DefaultBreakerHalfOpenProbes
	}
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = DefaultMaxConcurrent
	}
	if p.BackoffMax < p.BackoffInitial {
		p.BackoffMax = p.BackoffInitial
	}
	return p, nil
}
