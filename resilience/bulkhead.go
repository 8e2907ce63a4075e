package resilience

import (
	"fmt"
	"log/slog"

	"github.com/faultlab/faultlab/observability"
)

// bulkhead caps the attempts in flight to one upstream. It never queues: a
// full bulkhead refuses at once, so a slow upstream cannot pile up the
// caller's goroutines and connections. It is safe for concurrent use.
type bulkhead chan struct{}

func newBulkhead(n int) bulkhead { return make(bulkhead, n) }

func (b bulkhead) tryAcquire() bool {
	select {
	case b <- struct{}{}:
		return true
	default:
		return false
	}
}

func (b bulkhead) release() { <-b }

// bulkheadPolicy is (8): an attempt takes a slot, held until its response
// body is closed; a full bulkhead ends the call at once (local
// back-pressure, not upstream failure: the breaker does not count it).
func (t *Transport) bulkheadPolicy(next step) step {
	return func(a *attempt) result {
		if !t.bh.tryAcquire() {
			t.m.bulkheadRejections.Inc()
			t.log.LogAttrs(a.c.parent, slog.LevelWarn, "bulkhead of "+t.name+" full",
				slog.String(observability.FieldEventAction, "bulkhead.rejected"),
				slog.String(observability.FieldUpstream, t.name))
			return t.refuse(a, fmt.Errorf("upstream %s: %w (%d in flight)", t.name, ErrBulkheadFull, cap(t.bh)))
		}
		a.slot = true
		return next(a)
	}
}
