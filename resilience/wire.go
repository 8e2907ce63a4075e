package resilience

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/faultlab/faultlab/observability"
)

// wire is the bottom of the stack: it sends attempt a on Config.Base (to
// its endpoint, if (6) chose one) and classifies what came back, as the
// table "What counts as what" of doc.go says.
func (t *Transport) wire(a *attempt) result {
	c := a.c
	r := c.req.WithContext(a.ctx)
	r.Body = a.body
	if a.ep != nil {
		a.url = *c.req.URL
		a.url.Scheme, a.url.Host = a.ep.scheme, a.ep.host
		r.URL, r.Host = &a.url, ""
	}
	r.Header = t.header(a, c.req.Header)
	c.sent.Add(1)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		if !notSent(err) {
			c.inDoubt.Store(true)
		}
		res := t.wireFailure(a, err)
		t.m.attempts[res.class].Inc()
		a.release(t)
		return res
	}
	return t.answered(a, resp)
}

// wireFailure classifies attempt a that got no response (err).
func (t *Transport) wireFailure(a *attempt, err error) result {
	c, n := a.c, a.n
	switch {
	case c.parent.Err() != nil: // the caller gave up: not the upstream's fault
		return result{kind: kindFinal, class: attemptCanceled, err: t.callerGone(c.parent.Err())}
	case a.parent.Err() != nil: // a hedge that lost
		return result{kind: kindFinal, class: attemptCanceled, err: fmt.Errorf("attempt %d cancelled: %w", n, err)}
	case a.ctx.Err() != nil && !time.Now().Before(c.deadline): // Policy.Timeout ran out during the attempt
		return result{kind: kindFinal, class: attemptTimeout, err: &UpstreamError{Upstream: t.name, Attempts: int(c.sent.Load()),
			Err: fmt.Errorf("%w: call timed out after %v: %w", ErrDeadline, t.p.Timeout, err)}}
	case a.ctx.Err() != nil:
		return result{kind: kindRetry, class: attemptTimeout, err: fmt.Errorf("attempt %d timed out after %v: %w", n, t.p.AttemptTimeout, err)}
	default:
		return result{kind: kindRetry, class: attemptError, err: fmt.Errorf("attempt %d: %w", n, err)}
	}
}

// answered classifies attempt a's response by its status.
func (t *Transport) answered(a *attempt, resp *http.Response) result {
	code := resp.StatusCode
	res := result{kind: kindDone, resp: resp, a: a}
	switch {
	case code == http.StatusServiceUnavailable && resp.Header.Get(DependencyHeader) != "":
		res.class = attemptDependency
	case code == http.StatusServiceUnavailable && resp.Header.Get(LoadShedHeader) != "":
		res.class = attemptShed
	case code == http.StatusTooManyRequests:
		// The caller's own rate limit, not the upstream failing: final,
		// passed on with its Retry-After, and no concern of the breaker.
		res.class = attempt429
	case retryableStatus(code):
		res.kind, res.class, res.err = kindRetry, attempt5xx, fmt.Errorf("attempt %d: status %d", a.n, code)
	case code >= 500:
		res.class = attempt5xx
	case code >= 400: // the upstream answered; the request was wrong
		res.class = attempt4xx
	default:
		res.class = attemptSuccess
	}
	t.m.attempts[res.class].Inc()
	return res
}

// header returns attempt a's header: the caller's, plus the remaining
// budget and the trace context (their values live in a). The caller's map
// is shared value-for-value, not modified.
func (t *Transport) header(a *attempt, in http.Header) http.Header {
	h := make(http.Header, len(in)+2)
	for k, v := range in {
		h[k] = v
	}
	// Whole milliseconds left, less one for the trip: the callee starts its
	// clock on arrival, so the budget must not include the time in transit.
	a.vals[0] = strconv.FormatInt(max(time.Until(a.ad).Milliseconds()-1, 1), 10)
	h[BudgetHeader] = a.vals[0:1:1]
	if sc, ok := observability.SpanFromContext(a.ctx); ok {
		a.vals[1] = sc.String()
		h[observability.TraceparentHeader] = a.vals[1:2:2]
	}
	return h
}
