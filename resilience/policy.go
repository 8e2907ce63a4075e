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

	// The fields below apply when Config names endpoints (balancer.go).

	// Balancer picks an endpoint for each attempt. Default BalancerP2C.
	Balancer Balancer
	// DisableOutlier turns the outlier detector off (outlier.go).
	DisableOutlier bool
	// OutlierConsecutive5xx ejects an endpoint after that many 5xx,
	// timeouts or connection errors in a row. Default 5.
	OutlierConsecutive5xx int
	// OutlierConsecutiveGateway ejects an endpoint after that many 502,
	// 503, 504, timeouts or connection errors in a row. Default 3.
	OutlierConsecutiveGateway int
	// OutlierBaseEjection is the ejection time, multiplied by the number
	// of times the endpoint was ejected. Default 30s.
	OutlierBaseEjection time.Duration
	// OutlierMaxEjection caps an ejection time. Default 300s.
	OutlierMaxEjection time.Duration
	// OutlierMaxPercent caps the share of endpoints ejected at once, in
	// percent (1 to 100); one endpoint may always be. Default 10.
	OutlierMaxPercent int
	// OutlierInterval is the period of the success-rate rule. Default 10s.
	OutlierInterval time.Duration
	// OutlierSuccessStdev turns the success-rate rule on: an endpoint whose
	// success rate over the interval is below the mean of the endpoints
	// less this many standard deviations is ejected (Envoy's 1.9). 0 is off.
	OutlierSuccessStdev float64
	// OutlierSuccessMinRequests is the number of answers in the interval
	// an endpoint needs to be judged by the success-rate rule. Default 20.
	OutlierSuccessMinRequests int
	// HedgeDelay turns hedging on (hedge.go): a hedgeable attempt that has
	// not answered after it gets a copy sent to another endpoint. 0 is off
	// unless HedgeQuantile is set.
	HedgeDelay time.Duration
	// HedgeQuantile turns adaptive hedging on: the delay is this quantile
	// (such as 0.95) of recent latencies, within [HedgeMinDelay,
	// HedgeMaxDelay]. It takes precedence over HedgeDelay.
	HedgeQuantile float64
	// HedgeMinDelay bounds the adaptive delay below. Default 5ms.
	HedgeMinDelay time.Duration
	// HedgeMaxDelay bounds the adaptive delay above, and is the delay
	// until enough latencies are known. Default AttemptTimeout / 2.
	HedgeMaxDelay time.Duration
	// HedgePosts lets requests other than GET and HEAD be hedged when they
	// carry an Idempotency-Key. Off by default.
	HedgePosts bool
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

	DefaultOutlierConsecutive5xx     = 5
	DefaultOutlierConsecutiveGateway = 3
	DefaultOutlierBaseEjection       = 30 * time.Second
	DefaultOutlierMaxEjection        = 300 * time.Second
	DefaultOutlierMaxPercent         = 10
	DefaultOutlierInterval           = 10 * time.Second
	DefaultOutlierSuccessMinRequests = 20
	DefaultHedgeMinDelay             = 5 * time.Millisecond
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
	if err := p.checkEndpointFields(); err != nil {
		return p, err
	}
	def := orDefault[time.Duration]
	def(&p.Timeout, DefaultTimeout)
	def(&p.AttemptTimeout, DefaultAttemptTimeout)
	def(&p.BackoffInitial, DefaultBackoffInitial)
	def(&p.BackoffMax, DefaultBackoffMax)
	def(&p.MaxRetryAfter, DefaultMaxRetryAfter)
	def(&p.BudgetWindow, DefaultBudgetWindow)
	def(&p.BreakerWindow, DefaultBreakerWindow)
	def(&p.BreakerOpenTimeout, DefaultBreakerOpenTimeout)
	orDefault(&p.MaxAttempts, DefaultMaxAttempts)
	orDefault(&p.BudgetRatio, DefaultBudgetRatio)
	orDefault(&p.BudgetMinRetries, DefaultBudgetMinRetries)
	orDefault(&p.BreakerMinRequests, DefaultBreakerMinRequests)
	orDefault(&p.BreakerFailureRatio, DefaultBreakerFailureRatio)
	orDefault(&p.BreakerHalfOpenProbes, DefaultBreakerHalfOpenProbes)
	orDefault(&p.MaxConcurrent, DefaultMaxConcurrent)
	if p.BackoffMax < p.BackoffInitial {
		p.BackoffMax = p.BackoffInitial
	}
	p.endpointDefaults()
	return p, nil
}

// checkEndpointFields validates the balancer, outlier and hedge fields.
func (p Policy) checkEndpointFields() error {
	switch {
	case p.Balancer != "" && p.Balancer != BalancerP2C && p.Balancer != BalancerRoundRobin:
		return fmt.Errorf("%w: balancer %q: want %s or %s", ErrConfig, p.Balancer, BalancerP2C, BalancerRoundRobin)
	case p.OutlierConsecutive5xx < 0 || p.OutlierConsecutiveGateway < 0 || p.OutlierBaseEjection < 0 ||
		p.OutlierMaxEjection < 0 || p.OutlierInterval < 0 || p.OutlierSuccessMinRequests < 0 ||
		p.OutlierMaxPercent < 0 || p.OutlierMaxPercent > 100 || !(p.OutlierSuccessStdev >= 0):
		return fmt.Errorf("%w: negative outlier value, or max percent above 100", ErrConfig)
	case p.HedgeDelay < 0 || p.HedgeMinDelay < 0 || p.HedgeMaxDelay < 0 || !(p.HedgeQuantile >= 0) || p.HedgeQuantile > 1:
		return fmt.Errorf("%w: negative hedge value, or hedge quantile above 1", ErrConfig)
	case p.HedgeMaxDelay > 0 && p.HedgeMinDelay > p.HedgeMaxDelay:
		return fmt.Errorf("%w: hedge min delay %v above max delay %v", ErrConfig, p.HedgeMinDelay, p.HedgeMaxDelay)
	}
	return nil
}

// endpointDefaults fills in the balancer, outlier and hedge defaults.
func (p *Policy) endpointDefaults() {
	orDefault(&p.Balancer, BalancerP2C)
	defInt, defDur := orDefault[int], orDefault[time.Duration]
	defInt(&p.OutlierConsecutive5xx, DefaultOutlierConsecutive5xx)
	defInt(&p.OutlierConsecutiveGateway, DefaultOutlierConsecutiveGateway)
	defInt(&p.OutlierMaxPercent, DefaultOutlierMaxPercent)
	defInt(&p.OutlierSuccessMinRequests, DefaultOutlierSuccessMinRequests)
	defDur(&p.OutlierBaseEjection, DefaultOutlierBaseEjection)
	defDur(&p.OutlierMaxEjection, DefaultOutlierMaxEjection)
	defDur(&p.OutlierInterval, DefaultOutlierInterval)
	defDur(&p.HedgeMinDelay, DefaultHedgeMinDelay)
	defDur(&p.HedgeMaxDelay, p.AttemptTimeout/2)
	if p.HedgeMinDelay > p.HedgeMaxDelay {
		p.HedgeMinDelay = p.HedgeMaxDelay
	}
}

// orDefault sets *v to d when *v is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}
