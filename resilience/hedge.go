package resilience

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// hedgePolicy is (4): for a hedgeable call (GET or HEAD; with HedgePosts,
// any request with an Idempotency-Key) to an upstream with more than one
// endpoint, when the attempt has not answered after the hedge delay, a
// second copy goes to another endpoint. The first good answer (below 500)
// wins and the other is cancelled; when both fail, the better failure goes
// to (2), which may retry. A hedge spends the retry budget like a retry,
// and is not sent when the budget is out.
//
// The delay is Policy.HedgeDelay, or with HedgeQuantile that quantile of
// the latencies of recent good answers, within [HedgeMinDelay,
// HedgeMaxDelay] (HedgeMaxDelay until enough answers are seen).
func (t *Transport) hedgePolicy(next step) step {
	if (t.p.HedgeDelay <= 0 && t.p.HedgeQuantile <= 0) || t.lb == nil {
		return next
	}
	return func(a *attempt) result {
		c := a.c
		if !t.hedgeable(c) || len(*t.lb.set.Load()) < 2 {
			return next(a)
		}
		return t.hedged(next, a)
	}
}

// hedgeable reports whether a copy of the call may be sent concurrently.
func (t *Transport) hedgeable(c *call) bool {
	switch c.req.Method {
	case http.MethodGet, http.MethodHead, "":
		return c.req.Body == nil || c.req.Body == http.NoBody || c.replay != nil
	}
	return t.p.HedgePosts && c.req.Header.Get(IdempotencyKeyHeader) != "" && c.replay != nil
}

// branch is one copy of a hedged attempt, run in its own goroutine.
type branch struct {
	a      *attempt
	cancel context.CancelFunc // the branch's context; the attempt's release calls it too
	start  time.Time
	res    result
}

// hedged runs a and, after the delay, one hedge; it returns the winner and
// leaves the losers to be cancelled and drained in the background.
func (t *Transport) hedged(next step, a *attempt) result {
	c := a.c
	done := make(chan *branch, 2)
	run := func(b *branch) {
		b.a.parent, b.cancel = context.WithCancel(c.parent)
		b.a.branchCancel = b.cancel
		b.start = t.clock.Now()
		go func() {
			b.res = next(b.a)
			done <- b
		}()
	}
	branches := [2]*branch{{a: a}}
	run(branches[0])
	timer := t.clock.After(t.hedgeDelay())
	pending := 1
	var best *branch
	for pending > 0 {
		select {
		case <-timer:
			timer = nil
			if h := t.hedgeAttempt(a); h != nil {
				branches[1] = &branch{a: h}
				run(branches[1])
				pending++
			}
		case b := <-done:
			pending--
			if good(b.res) {
				t.lat.observe(t.clock.Now().Sub(b.start))
				if b.a.hedge {
					t.m.hedgeWins.Inc()
				}
				t.abandon(done, pending, branches, b)
				if best != nil {
					t.discard(best.res)
				}
				return b.res
			}
			if timer != nil && pending == 0 {
				return b.res // failed before the hedge was due: (2) decides
			}
			if best == nil || rank(b.res) > rank(best.res) {
				if best != nil {
					t.discard(best.res)
				}
				best = b
			} else {
				t.discard(b.res)
			}
		}
	}
	return best.res
}

// hedgeAttempt returns the hedge of a, or nil when the budget or the body
// says no.
func (t *Transport) hedgeAttempt(a *attempt) *attempt {
	c := a.c
	if c.parent.Err() != nil || !t.spendRetry(c, false) {
		return nil
	}
	h := &attempt{c: c, n: a.n, hedge: true, last: a.last, now: time.Now()}
	if c.replay != nil {
		body, err := c.replay()
		if err != nil {
			return nil
		}
		h.body = body
	}
	t.m.hedges.Inc()
	return h
}

// abandon cancels the branches other than winner and drains what they
// bring back, in the background.
func (t *Transport) abandon(done chan *branch, pending int, branches [2]*branch, winner *branch) {
	if pending == 0 {
		return
	}
	for _, b := range branches {
		if b != nil && b != winner {
			b.cancel()
		}
	}
	go func() {
		for range pending {
			t.discard((<-done).res)
		}
	}()
}

// discard frees a result the caller will not see.
func (t *Transport) discard(res result) {
	if res.resp != nil {
		t.finish(res)
	}
}

// good reports whether res is an answer worth taking at once.
func good(res result) bool {
	return res.kind == kindDone && res.resp.StatusCode < 500
}

// rank orders failures: an answer, then a retryable failure, then the rest.
func rank(res result) int {
	switch res.kind {
	case kindDone:
		return 3
	case kindRetry:
		return 2
	case kindFinal:
		return 1
	}
	return 0
}

// hedgeDelay is the wait before a hedge.
func (t *Transport) hedgeDelay() time.Duration {
	if t.p.HedgeQuantile <= 0 {
		return t.p.HedgeDelay
	}
	d, ok := t.lat.quantile()
	if !ok {
		return t.p.HedgeMaxDelay
	}
	return min(max(d, t.p.HedgeMinDelay), t.p.HedgeMaxDelay)
}

// latencies keeps the latencies of recent good answers and their
// quantile, recomputed every latencyEvery observations.
type latencies struct {
	q    float64
	mu   sync.Mutex
	ring [latencyWindow]time.Duration
	n    int // observations so far
	cur  atomic.Int64
}

const (
	latencyWindow = 256
	latencyMin    = 16 // observations before the quantile is trusted
	latencyEvery  = 16
)

func newLatencies(q float64) *latencies { return &latencies{q: q} }

func (l *latencies) observe(d time.Duration) {
	if l.q <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.n%latencyWindow] = d
	l.n++
	if l.n >= latencyMin && l.n%latencyEvery == 0 {
		s := slices.Clone(l.ring[:min(l.n, latencyWindow)])
		slices.Sort(s)
		l.cur.Store(int64(s[min(int(l.q*float64(len(s))), len(s)-1)]))
	}
}

func (l *latencies) quantile() (time.Duration, bool) {
	d := l.cur.Load()
	return time.Duration(d), d > 0
}
