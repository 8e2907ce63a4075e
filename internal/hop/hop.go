package hop

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/topology"
)

// ScenarioPolicy is the default policy of `faultlab up` and of the chaos
// suites (in-process and in containers): the catalogue's timings assume it.
// It keeps the breaker's open interval and window short so that a trip and a
// recovery fit in a scenario of a few seconds: with the default 10 s window,
// the successes before a fault outweigh the slow failures of a 2 s latency
// for longer than the fault lasts.
var ScenarioPolicy = resilience.Policy{BreakerOpenTimeout: 2 * time.Second, BreakerMinRequests: 6, BreakerWindow: 5 * time.Second}

// New returns caller's resilience client for up: p with the per-hop values
// of Layered filled into the fields it leaves at zero.
func New(caller, up string, p resilience.Policy, logger *slog.Logger, m *resilience.Metrics) (*resilience.Transport, error) {
	return NewOver(caller, up, p, Endpoints{}, logger, m)
}

// Endpoints say where the replicas of an upstream are. The zero value
// calls the request's URL, as New.
type Endpoints struct {
	// Static are the base URLs of the replicas (each behind its own proxy
	// in the labs).
	Static []string
	// Resolve, if set, looks the replicas up (resilience.ResolveDNS:
	// Docker's tasks.<service>, a headless Kubernetes service), at the
	// first call and then periodically.
	Resolve func(ctx context.Context) ([]string, error)
}

// NewOver is New for an upstream that runs replicated: the client balances
// over eps (resilience.Config.Endpoints and Resolve).
func NewOver(caller, up string, p resilience.Policy, eps Endpoints, logger *slog.Logger, m *resilience.Metrics) (*resilience.Transport, error) {
	t, err := resilience.New(resilience.Config{Name: up, Policy: Layered(caller, up, p), Endpoints: eps.Static, Resolve: eps.Resolve, Logger: logger, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", up, err)
	}
	return t, nil
}

// Layered fills the fields p leaves at zero with the lab's per-hop values.
// The gateway waits longer for order than order waits for payment, so that
// a slow payment times out inside order (and counts against order's payment
// breaker) before the gateway gives up on order (which would make order's
// attempt a cancelled call that counts for nothing).
func Layered(caller, up string, p resilience.Policy) resilience.Policy {
	fill := func(attempt, total time.Duration) {
		if p.AttemptTimeout == 0 {
			p.AttemptTimeout = attempt
		}
		if p.Timeout == 0 {
			p.Timeout = total
		}
	}
	switch {
	case caller == topology.Gateway && up == topology.Order:
		// order may spend up to 2 × 2 s on payment (charge, then the
		// lookup of a charge that may have landed) plus stock calls.
		fill(6*time.Second, 10*time.Second)
		// A 503 from order carries order's own Retry-After (say, payment's
		// breaker is open for 2 s more): waiting inside the client's
		// request helps nobody, so the gateway passes such answers on.
		if p.MaxRetryAfter == 0 {
			p.MaxRetryAfter = 250 * time.Millisecond
		}
		// Orders are the slow, heavy route: cap them so a slow order
		// service cannot take every gateway worker.
		if p.MaxConcurrent == 0 {
			p.MaxConcurrent = 32
		}
	case caller == topology.Gateway && up == topology.Product:
		// The catalogue has a stale copy to fall back on: give up early.
		fill(500*time.Millisecond, 1200*time.Millisecond)
	case caller == topology.Order && up == topology.Payment:
		fill(800*time.Millisecond, 2*time.Second)
	}
	return p
}
