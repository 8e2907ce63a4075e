package user

import (
	"sync"
	"time"
)

// limiter counts login failures per key (account or client IP) in a fixed
// window and locks a key that reaches the limit until its window ends.
// It is safe for concurrent use.
type limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time
	max    int

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	start time.Time
	fails int
}

func newLimiter(limit int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{limit: limit, window: window, now: now, max: 100_000, m: map[string]*bucket{}}
}

// locked returns how long key stays locked, or 0.
func (l *limiter) locked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[key]
	if !ok || b.fails < l.limit {
		return 0
	}
	if d := b.start.Add(l.window).Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// fail records a failure and reports whether key is now locked.
func (l *limiter) fail(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.m[key]
	if !ok || !now.Before(b.start.Add(l.window)) {
		if len(l.m) >= l.max {
			l.sweep(now)
		}
		b = &bucket{start: now}
		l.m[key] = b
	}
	b.fails++
	return b.fails >= l.limit
}

// reset forgets key (after a successful login to that account).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}

// sweep drops expired buckets, and everything if that is not enough, so an
// attacker spraying addresses cannot grow the map without bound.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.m {
		if !now.Before(b.start.Add(l.window)) {
			delete(l.m, k)
		}
	}
	if len(l.m) >= l.max {
		clear(l.m)
	}
}
