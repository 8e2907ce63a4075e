package resilience

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/faultlab/faultlab/observability"
)

// stateNames are the breaker states as metrics and logs spell them, indexed
// by gobreaker.State (closed, half-open, open).
var stateNames = [3]string{"closed", "half_open", "open"}

// Outcomes reported to gobreaker. Package-level values, so reporting
// allocates nothing.
var (
	errAttemptFailed   = errors.New("attempt failed")
	errAttemptExcluded = errors.New("attempt excluded")
)

// breaker wraps gobreaker's two-step breaker for one upstream. gobreaker
// v2.4.0 reads time.Now itself (no clock injection), so its state moves on
// real time; the breaker here only uses Clock for the Retry-After hint of
// OpenError. It is safe for concurrent use.
type breaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	clock    Clock
	open     time.Duration
	openedAt atomic.Int64 // Clock time of the last transition to open, UnixNano
}

func newBreaker(name string, p Policy, clock Clock, m *upstreamMetrics, log *slog.Logger) *breaker {
	b := &breaker{clock: clock, open: p.BreakerOpenTimeout}
	minReq, ratio := p.BreakerMinRequests, p.BreakerFailureRatio
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name,
		MaxRequests:  p.BreakerHalfOpenProbes,
		Interval:     p.BreakerWindow,
		BucketPeriod: p.BreakerWindow / 10,
		Timeout:      p.BreakerOpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			counted := c.TotalSuccesses + c.TotalFailures
			return counted >= minReq && float64(c.TotalFailures) >= ratio*float64(counted)
		},
		IsExcluded: func(err error) bool { return err == errAttemptExcluded },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openedAt.Store(clock.Now().UnixNano())
			}
			m.transition(int(from), int(to))
			level := slog.LevelWarn
			if to == gobreaker.StateClosed {
				level = slog.LevelInfo
			}
			// gobreaker calls this under its lock and without a context, so
			// the line has no trace.id: a transition belongs to no one call.
			log.LogAttrs(context.Background(), level, "breaker "+name+" "+stateNames[from]+" -> "+stateNames[to],
				slog.String(observability.FieldEventAction, "breaker.state_change"),
				slog.String(observability.FieldUpstream, name),
				slog.String("labels.from", stateNames[from]),
				slog.String("labels.to", stateNames[to]),
			)
		},
	})
	m.state[0].Set(1)
	return b
}

// allow asks to send one attempt. On refusal it returns an *OpenError.
func (b *breaker) allow(name string, last error) (func(error), error) {
	done, err := b.cb.Allow()
	if err == nil {
		return done, nil
	}
	wait := time.Duration(0)
	if errors.Is(err, gobreaker.ErrOpenState) {
		wait = b.open - b.clock.Now().Sub(time.Unix(0, b.openedAt.Load()))
	}
	return nil, &OpenError{Upstream: name, Wait: wait, Last: last}
}

func (b *breaker) state() string { return stateNames[b.cb.State()] }
