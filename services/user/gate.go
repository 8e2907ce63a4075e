package user

import (
	"context"
	"sync/atomic"
)

// gate bounds the password hashes computed at once: Slots may run, Queue
// more may wait for a slot (until their request's context ends), and any
// further login is refused at once, so that a flood of logins costs at
// most Slots cores and never grows a queue of work nobody will wait for.
// It is safe for concurrent use.
type gate struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
}

func newGate(slots, queue int) *gate {
	return &gate{slots: make(chan struct{}, slots), queue: int64(queue)}
}

// acquire takes a slot, waiting in the queue if there is room there. It
// returns false, at once, when the slots and the queue are full, or when
// ctx ends while waiting.
func (g *gate) acquire(ctx context.Context) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return false
	}
	defer g.waiting.Add(-1)
	select {
	case g.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (g *gate) release() { <-g.slots }
