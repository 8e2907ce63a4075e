package resilience

import (
	"log/slog"
	"sync"
	"time"

	"github.com/faultlab/faultlab/observability"
)

// budgetBuckets is the resolution of the sliding window.
const budgetBuckets = 10

// budget is an Envoy/Finagle-style retry budget for one upstream: within a
// sliding window, retries may not exceed ratio × calls + minRetries. It
// bounds the load retries add to a failing upstream to about (1+ratio)×,
// whatever MaxAttempts says. It is safe for concurrent use.
type budget struct {
	clock  Clock
	ratio  float64
	floor  int64
	bucket time.Duration

	mu      sync.Mutex
	epoch   int64 // index of the newest bucket, in bucket periods since the Unix epoch
	calls   [budgetBuckets]int64
	retries [budgetBuckets]int64
	sumCall int64
	sumRetr int64
}

func newBudget(clock Clock, ratio float64, floor int, window time.Duration) *budget {
	b := &budget{clock: clock, ratio: ratio, floor: int64(floor), bucket: window / budgetBuckets}
	if b.bucket <= 0 {
		b.bucket = 1
	}
	b.epoch = clock.Now().UnixNano() / int64(b.bucket)
	return b
}

// roll drops the buckets that left the window at t. Callers hold mu.
func (b *budget) roll(t time.Time) int {
	now := t.UnixNano() / int64(b.bucket)
	if now > b.epoch {
		n := now - b.epoch
		if n > budgetBuckets {
			n = budgetBuckets
		}
		for i := int64(1); i <= n; i++ {
			j := (b.epoch + i) % budgetBuckets
			b.sumCall -= b.calls[j]
			b.sumRetr -= b.retries[j]
			b.calls[j], b.retries[j] = 0, 0
		}
		b.epoch = now
	}
	// A clock that went backwards keeps counting in the newest bucket.
	return int(b.epoch % budgetBuckets)
}

// call records a logical call that began at now (on the budget's clock).
func (b *budget) call(now time.Time) {
	b.mu.Lock()
	i := b.roll(now)
	b.calls[i]++
	b.sumCall++
	b.mu.Unlock()
}

// tryRetry records and allows a retry if the budget has room for it.
func (b *budget) tryRetry() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.roll(b.clock.Now())
	if float64(b.sumRetr+1) > b.ratio*float64(b.sumCall)+float64(b.floor) {
		return false
	}
	b.retries[i]++
	b.sumRetr++
	return true
}

// budgetPolicy is (3): it counts the logical call in the budget and lends
// the budget to the call, so that (2) retries and (4) hedges spend it
// before they wait or send.
func (t *Transport) budgetPolicy(next step) step {
	return func(a *attempt) result {
		if a.n == 1 && !a.hedge {
			t.budget.call(a.c.start)
			a.c.budget = t.budget
		}
		return next(a)
	}
}

// spendRetry takes one retry (or hedge) from the call's budget. A refused
// retry is counted and logged; a refused hedge is not (the call goes on).
func (t *Transport) spendRetry(c *call, isRetry bool) bool {
	if c.budget == nil || c.budget.tryRetry() {
		return true
	}
	if isRetry {
		t.m.budgetExhausted.Inc()
		t.log.LogAttrs(c.parent, slog.LevelWarn, "retry budget of "+t.name+" exhausted",
			slog.String(observability.FieldEventAction, "retry.budget_exhausted"),
			slog.String(observability.FieldUpstream, t.name))
	}
	return false
}
