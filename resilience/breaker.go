package resilience

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/faultlab/faultlab/observability"
)

// BreakerState is a circuit breaker's state, spelt as the
// faultlab_circuitbreaker_state gauge labels it.
type BreakerState string

// Breaker states.
const (
	StateClosed   BreakerState = "closed"
	StateHalfOpen BreakerState = "half_open"
	StateOpen     BreakerState = "open"
)

// String returns the state as metrics and logs spell it.
func (s BreakerState) String() string { return string(s) }

// stateNames are the breaker states as metrics and logs spell them, indexed
// by gobreaker.State (closed, half-open, open).
var stateNames = [3]string{string(StateClosed), string(StateHalfOpen), string(StateOpen)}

// Outcomes reported to gobreaker. Package-level values, so reporting
// allocates nothing.
var (
	errAttemptFailed   = errors.New("attempt failed")
	errAttemptExcluded = errors.New("attempt excluded")
)

// neverTimeout is gobreaker's open period: long enough that gobreaker never
// leaves the open state by itself. The breaker moves open -> half-open on
// its Clock instead.
const neverTimeout = time.Duration(1 << 62)

// breaker is the circuit breaker for one upstream. In the closed state it
// counts through gobreaker's two-step breaker (its rolling window and
// ReadyToTrip); gobreaker v2.4.0 reads time.Now itself, so it is given an
// open period it never reaches. The open period and the half-open probes
// are the breaker's own, on Clock, so that tests move the breaker with a
// fake clock:
//
//	closed (gobreaker counts) --trip--> open --Clock >= open--> half_open
//	half_open --probes succeed--> closed (a fresh gobreaker)
//	half_open --a probe fails--> open
//
// It is safe for concurrent use.
type breaker struct {
	name     string
	settings gobreaker.Settings
	clock    Clock
	open     time.Duration
	probes   uint32
	m        *upstreamMetrics
	log      *slog.Logger

	st atomic.Int32 // a gobreaker.State; written under mu
	cb atomic.Pointer[gobreaker.TwoStepCircuitBreaker[struct{}]]

	mu        sync.Mutex
	openedAt  time.Time // Clock time of the last transition to open
	gen       uint64    // bumped on every transition; stale probes are ignored
	inflight  uint32    // half-open probes admitted and not excluded
	successes uint32    // half-open probes that succeeded
}

func newBreaker(name string, p Policy, clock Clock, m *upstreamMetrics, log *slog.Logger) *breaker {
	b := &breaker{name: name, clock: clock, open: p.BreakerOpenTimeout, probes: p.BreakerHalfOpenProbes, m: m, log: log}
	minReq, ratio := p.BreakerMinRequests, p.BreakerFailureRatio
	b.settings = gobreaker.Settings{
		Name:         name,
		MaxRequests:  p.BreakerHalfOpenProbes,
		Interval:     p.BreakerWindow,
		BucketPeriod: p.BreakerWindow / 10,
		Timeout:      neverTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			counted := c.TotalSuccesses + c.TotalFailures
			return counted >= minReq && float64(c.TotalFailures) >= ratio*float64(counted)
		},
		IsExcluded: func(err error) bool { return err == errAttemptExcluded },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			// With neverTimeout the only change gobreaker makes is the trip.
			if from == gobreaker.StateClosed && to == gobreaker.StateOpen {
				b.mu.Lock()
				b.setLocked(gobreaker.StateOpen)
				b.mu.Unlock()
			}
		},
	}
	b.cb.Store(gobreaker.NewTwoStepCircuitBreaker[struct{}](b.settings))
	m.state[0].Set(1)
	return b
}

// allow asks to send one attempt. On refusal it returns an *OpenError.
func (b *breaker) allow(name string, last error) (func(error), error) {
	if gobreaker.State(b.st.Load()) == gobreaker.StateClosed {
		done, err := b.cb.Load().Allow()
		if err == nil {
			return done, nil
		}
		// gobreaker tripped since the load above: the breaker is open now.
	}
	done, wait, err := b.allowSlow()
	if err != nil {
		return nil, &OpenError{Upstream: name, Wait: wait, Last: last}
	}
	return done, nil
}

// allowSlow admits a half-open probe or refuses with the wait left. It
// never calls gobreaker under mu: gobreaker calls OnStateChange, which
// takes mu, under its own lock.
func (b *breaker) allowSlow() (func(error), time.Duration, error) {
	b.mu.Lock()
	switch b.currentLocked() {
	case gobreaker.StateClosed:
		b.mu.Unlock()
		done, err := b.cb.Load().Allow()
		return done, 0, err
	case gobreaker.StateOpen:
		wait := b.open - b.clock.Now().Sub(b.openedAt)
		b.mu.Unlock()
		return nil, wait, gobreaker.ErrOpenState
	}
	defer b.mu.Unlock()
	if b.inflight >= b.probes {
		return nil, 0, gobreaker.ErrTooManyRequests
	}
	b.inflight++
	gen := b.gen
	return func(err error) { b.probeDone(gen, err) }, 0, nil
}

// probeDone records the outcome of a half-open probe admitted in gen.
func (b *breaker) probeDone(gen uint64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen {
		return
	}
	switch {
	case err == errAttemptExcluded:
		b.inflight--
	case err == nil:
		b.successes++
		if b.successes >= b.probes {
			b.cb.Store(gobreaker.NewTwoStepCircuitBreaker[struct{}](b.settings))
			b.setLocked(gobreaker.StateClosed)
		}
	default:
		b.setLocked(gobreaker.StateOpen)
	}
}

// currentLocked moves open -> half-open once the open period has passed on
// Clock, and returns the state.
func (b *breaker) currentLocked() gobreaker.State {
	st := gobreaker.State(b.st.Load())
	if st == gobreaker.StateOpen && b.clock.Now().Sub(b.openedAt) >= b.open {
		b.setLocked(gobreaker.StateHalfOpen)
		return gobreaker.StateHalfOpen
	}
	return st
}

// setLocked makes the transition to st, if it is one: a new generation,
// the metrics and the breaker.state_change line.
func (b *breaker) setLocked(to gobreaker.State) {
	from := gobreaker.State(b.st.Load())
	if from == to {
		return
	}
	b.gen++
	b.inflight, b.successes = 0, 0
	if to == gobreaker.StateOpen {
		b.openedAt = b.clock.Now()
	}
	b.st.Store(int32(to))
	b.m.transition(int(from), int(to))
	level := slog.LevelWarn
	if to == gobreaker.StateClosed {
		level = slog.LevelInfo
	}
	// A transition belongs to no one call, so the line has no trace.id.
	b.log.LogAttrs(context.Background(), level, "breaker "+b.name+" "+stateNames[from]+" -> "+stateNames[to],
		slog.String(observability.FieldEventAction, "breaker.state_change"),
		slog.String(observability.FieldUpstream, b.name),
		slog.String("labels.from", stateNames[from]),
		slog.String("labels.to", stateNames[to]),
	)
}

// state returns the state, moving open -> half-open on Clock first.
func (b *breaker) state() BreakerState {
	if gobreaker.State(b.st.Load()) == gobreaker.StateClosed {
		return StateClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return BreakerState(stateNames[b.currentLocked()])
}

// counts returns gobreaker's counts of the closed state.
func (b *breaker) counts() gobreaker.Counts { return b.cb.Load().Counts() }

// verdictErrors are what the breaker is told of each verdict.
var verdictErrors = [...]error{verdictExcluded: errAttemptExcluded, verdictSuccess: nil, verdictFailure: errAttemptFailed}

// breakerPolicy is (5): the breaker sees attempts, not calls, so that
// retries and hedges feed its failure rate. It sits above the endpoints:
// it opens only when the upstream as a whole fails, while (6) ejects a
// single failing endpoint.
func (t *Transport) breakerPolicy(next step) step {
	if t.br == nil {
		return next
	}
	return func(a *attempt) result {
		done, err := t.br.allow(t.name, a.last)
		if err != nil {
			t.m.breakerRejections.Inc()
			t.log.LogAttrs(a.c.parent, slog.LevelWarn, "breaker of "+t.name+" refused a call",
				slog.String(observability.FieldEventAction, "breaker.rejected"),
				slog.String(observability.FieldUpstream, t.name))
			return t.refuse(a, err)
		}
		res := next(a)
		done(verdictErrors[verdict(res.class)])
		return res
	}
}
