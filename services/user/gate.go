package user

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// gate bounds the password hashes computed at once: Slots may run, Queue
// more may wait for a slot (until their request's context ends), and any
// further login is refused at once, so that a flood of logins costs at
// most Slots cores and never grows a queue of work nobody will wait for.
// A client that logged in successfully a short while ago may also use the
// trusted lane, a few slots of its own, and is never shed (it waits while
// its deadline allows), so that a spray of logins from addresses that
// never succeed cannot shed a returning user. It is safe for concurrent use.
type gate struct {
	slots   chan struct{}
	trusted chan struct{}
	queue   int64
	waiting atomic.Int64
}

func newGate(slots, trusted, queue int) *gate {
	return &gate{slots: make(chan struct{}, slots), trusted: make(chan struct{}, trusted), queue: int64(queue)}
}

// acquire takes a slot (for a trusted client, a trusted slot if the others
// are busy), waiting in the queue if there is room there. It returns nil,
// at once, when the slots and the queue are full, or when ctx ends while
// waiting; else the function that gives the slot back.
func (g *gate) acquire(ctx context.Context, trusted bool) func() {
	select {
	case g.slots <- struct{}{}:
		return g.release
	default:
	}
	if trusted {
		// A client that proved a password lately is never shed: it waits
		// for either lane while its deadline allows (it is still bound
		// by the slots, so it cannot add hashing of its own).
		select {
		case g.trusted <- struct{}{}:
			return func() { <-g.trusted }
		case g.slots <- struct{}{}:
			return g.release
		case <-ctx.Done():
			return nil
		}
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return nil
	}
	defer g.waiting.Add(-1)
	select {
	case g.slots <- struct{}{}:
		return g.release
	case <-ctx.Done():
		return nil
	}
}

func (g *gate) release() { <-g.slots }

// recent remembers client addresses that logged in successfully, each
// until its expiry. It is bounded like limiter, and safe for concurrent use.
type recent struct {
	ttl time.Duration
	now func() time.Time
	max int

	mu sync.Mutex
	m  map[string]time.Time
}

func newRecent(ttl time.Duration, now func() time.Time) *recent {
	return &recent{ttl: ttl, now: now, max: 100_000, m: map[string]time.Time{}}
}

func (r *recent) add(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if len(r.m) >= r.max {
		for k, exp := range r.m {
			if !now.Before(exp) {
				delete(r.m, k)
			}
		}
		if len(r.m) >= r.max {
			clear(r.m)
		}
	}
	r.m[key] = now.Add(r.ttl)
}

func (r *recent) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp, ok := r.m[key]
	return ok && r.now().Before(exp)
}
