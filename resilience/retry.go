package resilience

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/observability"
)

// IdempotencyKeyHeader marks a request that the upstream deduplicates, so
// that even a POST may be retried.
const IdempotencyKeyHeader = "Idempotency-Key"

// retryable reports whether a failed attempt of req may be sent again:
// idempotent methods, or any method with an Idempotency-Key.
func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, "":
		return true
	}
	return req.Header.Get(IdempotencyKeyHeader) != ""
}

// retryableStatus lists the answers that mean "the upstream could not
// answer now". 429 is not one of them: it is the caller's own rate limit,
// which a retry would only spend faster (doc.go, "What counts as what").
func retryableStatus(code int) bool {
	switch code {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). A date in the past means zero. Garbage is ignored.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // any cap past MaxRetryAfter will do; avoids overflow
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// jitter is exponential backoff with full jitter: cenkalti/backoff computes
// the capped exponential ceiling (no randomisation of its own) and the wait
// is drawn uniformly from [0, ceiling). Full jitter spreads the retries of
// many callers that failed together (AWS Architecture Blog, "Exponential
// Backoff And Jitter"). Not safe for concurrent use: one per call.
type jitter struct {
	exp  backoff.ExponentialBackOff
	rand func() float64
}

func newJitter(p Policy, clock Clock, rand func() float64) *jitter {
	j := &jitter{rand: rand}
	j.exp = backoff.ExponentialBackOff{
		InitialInterval:     p.BackoffInitial,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         p.BackoffMax,
		MaxElapsedTime:      0, // Policy.Timeout bounds the call instead
		Stop:                backoff.Stop,
		Clock:               clock,
	}
	j.exp.Reset()
	return j
}

// next returns the wait before the next retry.
func (j *jitter) next() time.Duration {
	ceiling := j.exp.NextBackOff()
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(j.rand() * float64(ceiling))
}

// retryPolicy is (2): it sends the call's attempts, one after another,
// while a failure is worth another try (retryable request, attempts,
// deadline and budget left), waiting on Clock in between. Each retry goes
// to an endpoint the call has not tried, when there is one (balancer.go).
func (t *Transport) retryPolicy(next step) step {
	return func(a *attempt) result {
		c := a.c
		canRetry := t.p.MaxAttempts > 1 && retryable(c.req)
		if err := t.replayable(c, canRetry); err != nil {
			return result{kind: kindFinal, class: noClass, err: err}
		}
		a.body = c.req.Body
		var rs retryState
		for n := 1; ; n++ {
			if n > 1 {
				a = a.retry(n, rs.last)
				if c.replay != nil {
					body, err := c.replay()
					if err != nil {
						return result{kind: kindFinal, class: noClass, err: &UpstreamError{Upstream: t.name, Status: rs.lastStatus,
							Attempts: int(c.sent.Load()), Err: fmt.Errorf("replaying request body: %w", err)}}
					}
					a.body = body
				}
			}
			res := next(a)
			switch res.kind {
			case kindDone, kindFinal:
				return res
			case kindRejected:
				if n > 1 {
					res.kind = kindFinal
				}
				return res
			}
			// kindRetry: a connection error, an attempt timeout, or 502/503/504.
			delay, err := t.nextDelay(a, res, canRetry, &rs)
			if err != nil {
				return result{kind: kindFinal, class: noClass, err: err}
			}
			if delay > 0 {
				select {
				case <-t.clock.After(delay):
				case <-c.parent.Done():
					return result{kind: kindFinal, class: noClass, err: t.callerGone(c.parent.Err())}
				}
			}
		}
	}
}

// replayable: when the call may be retried (or hedged) and has a body, it
// sets c.replay to a function that gives the body again for each attempt,
// reading the body into memory when the request cannot replay it itself
// (c.req is then a copy carrying the buffered body).
func (t *Transport) replayable(c *call, canRetry bool) error {
	req := c.req
	if !canRetry || req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if req.GetBody != nil {
		c.replay = req.GetBody
		return nil
	}
	buf, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return fmt.Errorf("upstream %s: reading request body: %w", t.name, err)
	}
	c.replay = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	c.req = req.WithContext(req.Context())
	c.req.ContentLength = int64(len(buf))
	c.req.Body, _ = c.replay()
	return nil
}

// retryState is what a call remembers of its previous attempt.
type retryState struct {
	last        error // the previous attempt's failure
	lastStatus  int
	lastProblem []byte
	jit         *jitter
}

// nextDelay records the failed attempt in rs and decides on another: it
// returns how long to wait first, or the error that ends the call (the
// policy, the deadline or (3) the retry budget says no).
func (t *Transport) nextDelay(a *attempt, res result, canRetry bool, rs *retryState) (time.Duration, error) {
	c, n := a.c, a.n
	var wait time.Duration
	hasWait := false
	rs.last, rs.lastStatus, rs.lastProblem = res.err, 0, nil
	if res.resp != nil {
		rs.lastStatus = res.resp.StatusCode
		wait, hasWait = parseRetryAfter(res.resp.Header.Get("Retry-After"), t.clock.Now())
		rs.lastProblem = readProblem(res.resp)
		t.finish(res)
	}
	giveUp := func(cause error) (time.Duration, error) {
		return 0, &UpstreamError{Upstream: t.name, Status: rs.lastStatus, Attempts: int(c.sent.Load()), Wait: wait, Problem: rs.lastProblem, Err: cause}
	}
	if !canRetry || n >= t.p.MaxAttempts {
		return giveUp(rs.last)
	}
	if c.parent.Err() != nil {
		return 0, t.callerGone(c.parent.Err())
	}
	delay := wait
	if hasWait {
		if wait > t.p.MaxRetryAfter {
			return giveUp(fmt.Errorf("Retry-After %v exceeds the policy's %v: %w", wait, t.p.MaxRetryAfter, rs.last))
		}
	} else {
		if rs.jit == nil {
			rs.jit = newJitter(t.p, t.clock, t.rand)
		}
		delay = rs.jit.next()
	}
	if time.Until(c.deadline) <= delay+time.Millisecond {
		return giveUp(fmt.Errorf("%w: no time left to wait %v for attempt %d: %w", ErrDeadline, delay, n+1, rs.last))
	}
	if !t.spendRetry(c, true) {
		return giveUp(fmt.Errorf("%w: %w", ErrBudgetExhausted, rs.last))
	}
	t.m.retries.Inc()
	t.logRetry(c.parent, n, rs, delay)
	return delay, nil
}

// logRetry writes the retry.attempt line for attempt n+1.
func (t *Transport) logRetry(ctx context.Context, n int, rs *retryState, delay time.Duration) {
	reason := attemptOutcomeNames[attemptError]
	if rs.lastStatus != 0 {
		reason = "status_" + strconv.Itoa(rs.lastStatus)
	} else if errors.Is(rs.last, context.DeadlineExceeded) {
		reason = attemptOutcomeNames[attemptTimeout]
	}
	t.log.LogAttrs(ctx, slog.LevelInfo, "retrying "+t.name+" after "+reason,
		slog.String(observability.FieldEventAction, "retry.attempt"),
		slog.String(observability.FieldUpstream, t.name),
		slog.Int("labels.attempt", n+1),
		slog.String("labels.reason", reason),
		slog.Int64("labels.delay_ms", delay.Milliseconds()))
}

// readProblem returns resp's body if it is a problem+json document of at
// most MaxProblemBytes, else nil; finish drains what is left.
func readProblem(resp *http.Response) []byte {
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, problem.ContentType) {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxProblemBytes+1))
	if err != nil || len(b) > MaxProblemBytes {
		return nil
	}
	return b
}
