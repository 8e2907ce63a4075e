package resilience

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/observability"
)

// Metrics holds the resilience metrics of one service (docs/CONTRACTS.md).
// Create one per service registry and share it between the service's
// Transports and TokenCache. It is safe for concurrent use.
type Metrics struct {
	breakerState       *prometheus.GaugeVec   // name, state
	breakerTransitions *prometheus.CounterVec // name, from, to
	clientRequests     *prometheus.CounterVec // name, outcome
	clientAttempts     *prometheus.CounterVec // name, outcome
	clientRetries      *prometheus.CounterVec // name
	budgetExhausted    *prometheus.CounterVec // name
	bulkheadRejections *prometheus.CounterVec // name
	breakerRejections  *prometheus.CounterVec // name
	hedges             *prometheus.CounterVec // name
	hedgeWins          *prometheus.CounterVec // name
	endpointEjected    *prometheus.GaugeVec   // name, endpoint
	endpointEjections  *prometheus.CounterVec // name, endpoint, reason
	endpointAttempts   *prometheus.CounterVec // name, endpoint
	tokenCache         *prometheus.CounterVec // result
	tokenValidations   *prometheus.CounterVec // outcome

	clientDuration *prometheus.HistogramVec // name: the calls of clientRequests
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered). Calling it twice with one registry returns collectors bound to
// the metrics already registered instead of panicking.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ns := observability.Namespace
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels))
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, labels))
	}
	m := &Metrics{
		breakerState:       gauge("circuitbreaker_state", "Circuit breaker state: 1 for the current state, 0 otherwise.", "name", "state"),
		breakerTransitions: counter("circuitbreaker_transitions_total", "Circuit breaker state transitions.", "name", "from", "to"),
		clientRequests:     counter("client_requests_total", "Logical calls through the resilience client, by outcome (success, failure, rejected).", "name", "outcome"),
		clientDuration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "client_request_duration_seconds",
			Help:    "Logical calls through the resilience client, until the answer's headers or the error, every attempt included.",
			Buckets: observability.DurationBuckets,
		}, []string{"name"})),
		clientAttempts:     counter("client_attempts_total", "Attempts sent on the wire, by outcome.", "name", "outcome"),
		clientRetries:      counter("client_retries_total", "Retries sent.", "name"),
		budgetExhausted:    counter("retry_budget_exhausted_total", "Retries refused by the retry budget.", "name"),
		bulkheadRejections: counter("bulkhead_rejections_total", "Calls refused by a full bulkhead.", "name"),
		breakerRejections:  counter("breaker_rejections_total", "Calls refused by an open circuit breaker.", "name"),
		hedges:             counter("client_hedges_total", "Hedged attempts sent.", "name"),
		hedgeWins:          counter("client_hedge_wins_total", "Hedged attempts whose answer was taken.", "name"),
		endpointEjected:    gauge("endpoint_ejected", "1 while the outlier detector keeps the endpoint out of service, 0 otherwise.", "name", "endpoint"),
		endpointEjections:  counter("endpoint_ejections_total", "Endpoints ejected by the outlier detector, by reason.", "name", "endpoint", "reason"),
		endpointAttempts:   counter("endpoint_attempts_total", "Attempts sent to each endpoint.", "name", "endpoint"),
		tokenCache:         counter("token_cache_requests_total", "Token cache lookups, by result (hit, miss, stale_hit, unavailable).", "result"),
		tokenValidations:   counter("token_validations_total", "Token validations answered to callers, by outcome (valid, invalid, unavailable).", "outcome"),
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with a different metric is a programming error
	}
	return c
}

// Attempt outcomes (label outcome of faultlab_client_attempts_total).
const (
	attemptSuccess = iota // 1xx-3xx
	attempt4xx            // 4xx other than 429
	attempt429            // the caller's own rate limit: final, excluded
	attempt5xx
	attemptTimeout // the attempt's own timeout fired
	attemptError   // connection error
	attemptCanceled
	attemptDependency // 503 with DependencyHeader: the callee's upstream is down
	attemptShed       // 503 with LoadShedHeader: the callee protects itself
	numAttemptOutcomes
)

var attemptOutcomeNames = [numAttemptOutcomes]string{"success", "status_4xx", "status_429", "status_5xx", "timeout", "error", "canceled", "dependency_unavailable", "shed"}

// Logical call outcomes (faultlab_client_requests_total).
const (
	callSuccess  = iota // a response with status < 500 went back to the caller
	callFailure         // an error, or a 5xx response
	callRejected        // refused before the wire: open breaker, full bulkhead, no time left
	numCallOutcomes
)

var callOutcomeNames = [numCallOutcomes]string{"success", "failure", "rejected"}

// upstreamMetrics are the metrics of one upstream with labels bound once, so
// the hot path does no label lookups.
type upstreamMetrics struct {
	calls              [numCallOutcomes]prometheus.Counter
	duration           prometheus.Observer
	attempts           [numAttemptOutcomes]prometheus.Counter
	retries            prometheus.Counter
	budgetExhausted    prometheus.Counter
	bulkheadRejections prometheus.Counter
	breakerRejections  prometheus.Counter
	hedges             prometheus.Counter
	hedgeWins          prometheus.Counter
	state              [3]prometheus.Gauge // closed, half_open, open
	m                  *Metrics
	name               string
}

func (m *Metrics) forUpstream(name string) *upstreamMetrics {
	u := &upstreamMetrics{m: m, name: name}
	for i, o := range callOutcomeNames {
		u.calls[i] = m.clientRequests.WithLabelValues(name, o)
	}
	for i, o := range attemptOutcomeNames {
		u.attempts[i] = m.clientAttempts.WithLabelValues(name, o)
	}
	u.duration = m.clientDuration.WithLabelValues(name)
	u.retries = m.clientRetries.WithLabelValues(name)
	u.budgetExhausted = m.budgetExhausted.WithLabelValues(name)
	u.bulkheadRejections = m.bulkheadRejections.WithLabelValues(name)
	u.breakerRejections = m.breakerRejections.WithLabelValues(name)
	u.hedges = m.hedges.WithLabelValues(name)
	u.hedgeWins = m.hedgeWins.WithLabelValues(name)
	for i, s := range stateNames {
		u.state[i] = m.breakerState.WithLabelValues(name, s)
	}
	return u
}

func (u *upstreamMetrics) transition(from, to int) {
	u.m.breakerTransitions.WithLabelValues(u.name, stateNames[from], stateNames[to]).Inc()
	for i, g := range u.state {
		if i == to {
			g.Set(1)
		} else {
			g.Set(0)
		}
	}
}
