package resilience

import (
	"context"
	"time"
)

// attemptTimeoutPolicy is (7): the attempt's context ends at the attempt
// timeout from its start, clipped by the call's deadline; what is left is
// sent downstream in BudgetHeader (wire.go).
func (t *Transport) attemptTimeoutPolicy(next step) step {
	return func(a *attempt) result {
		a.ctx, a.cancel, a.ad = t.attemptContext(a.parent, a.now, a.c.deadline)
		return next(a)
	}
}

// attemptContext returns the attempt's context and deadline: the attempt
// timeout from now, clipped by the call's deadline. When the parent's own
// deadline is sooner still, its context is used as is.
func (t *Transport) attemptContext(parent context.Context, now, deadline time.Time) (context.Context, context.CancelFunc, time.Time) {
	actx, acancel := parent, context.CancelFunc(noCancel)
	ad := now.Add(t.p.AttemptTimeout)
	if deadline.Before(ad) {
		ad = deadline
	}
	if pd, ok := parent.Deadline(); !ok || pd.After(ad) {
		actx, acancel = context.WithDeadline(parent, ad)
	}
	return actx, acancel, ad
}
