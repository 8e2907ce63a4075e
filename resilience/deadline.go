package resilience

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// maxBudget caps a budget header so that absurd values cannot overflow.
const maxBudget = 24 * time.Hour

// Deadline is the server side of BudgetHeader: it sets the request
// context's deadline to the budget the caller sent, so that a callee stops
// working when its caller has given up. max caps the deadline and applies
// when the header is missing; max <= 0 means no cap (and no deadline
// without a header). A malformed header is ignored, never an error: the
// budget is advice from the caller, not input to validate.
func Deadline(max time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d, ok := parseBudget(r.Header.Get(BudgetHeader))
			if max > 0 && (!ok || d > max) {
				d, ok = max, true
			}
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// parseBudget reads a non-negative whole number of milliseconds.
func parseBudget(v string) (time.Duration, bool) {
	if v == "" || len(v) > 12 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	d := time.Duration(ms) * time.Millisecond
	if d > maxBudget {
		d = maxBudget
	}
	return d, true
}

// deadlinePolicy is (1): the call's deadline is the caller's, clipped by
// Policy.Timeout; a caller already gone, or less than a millisecond left,
// ends the call before any network call.
//
// The deadline is kept as a value, not a context: every attempt gets one
// context from the caller's, clipped to min(call deadline, attempt timeout)
// by (7), and waits between attempts are checked against it before they
// start. One context per attempt instead of two. Deadlines are wall-clock,
// as context's own are, so they read time.Now; the injected clock paces
// what the transport waits for itself (backoff and Retry-After waits).
func (t *Transport) deadlinePolicy(next step) step {
	return func(a *attempt) result {
		c := a.c
		if err := c.parent.Err(); err != nil {
			closeRequestBody(c.req)
			return result{kind: kindRejected, class: noClass, err: t.callerGone(err)}
		}
		a.now = t.wallNow(c)
		c.deadline = a.now.Add(t.p.Timeout)
		if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
			c.deadline = d
		}
		if c.deadline.Sub(a.now) < time.Millisecond {
			closeRequestBody(c.req)
			return result{kind: kindRejected, class: noClass,
				err: fmt.Errorf("upstream %s: %w: no time left for the call: %w", t.name, ErrDeadline, context.DeadlineExceeded)}
		}
		return next(a)
	}
}

// wallNow is the wall-clock time at the start of c: its start when the
// Transport runs on the wall clock (saving a clock read per call), else
// time.Now (deadlines are on the wall clock whatever Clock says).
func (t *Transport) wallNow(c *call) time.Time {
	if _, wall := t.clock.(realClock); wall {
		return c.start
	}
	return time.Now()
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
