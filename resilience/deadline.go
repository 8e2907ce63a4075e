package resilience

import (
	"context"
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
