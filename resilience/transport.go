package resilience

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/faultlab/faultlab/internal/contract"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/observability"
)

// BudgetHeader carries the caller's remaining deadline in milliseconds; the
// callee's Deadline middleware turns it back into a context deadline.
const BudgetHeader = contract.RequestBudget

// DependencyHeader on a 503 says the callee is up and answered for itself:
// one of its own upstreams is unavailable. Such an answer is final: it is
// not retried (the callee's own client already retried its upstream) and
// does not count against the callee's breaker (which would trip on a
// healthy service, and keep its traffic away after its upstream is back).
const DependencyHeader = problem.DependencyHeader

// LoadShedHeader on a 503 says the callee shed the request to protect
// itself (it is busy, not failing). Like DependencyHeader, such an answer
// is final: retrying it would add the very load that was shed, and
// counting it against the breaker would cut a healthy service off.
const LoadShedHeader = contract.LoadShed

// Config configures New. Only Name is required.
type Config struct {
	// Name is the upstream: "user", "product", "order" or "payment". It is
	// the metric label name and the log field labels.upstream.
	Name string
	// Policy holds the tunables; zero fields take defaults.
	Policy Policy
	// Base sends attempts on the wire. Nil means a *http.Transport tuned for
	// keep-alive to one host (see NewBaseTransport).
	Base http.RoundTripper
	// Logger receives the events of docs/CONTRACTS.md. Nil discards.
	Logger *slog.Logger
	// Metrics is the service's shared set. Nil records nothing.
	Metrics *Metrics
	// Clock drives waits, the budget window and durations. Nil is the real clock.
	Clock Clock
	// Rand returns a number in [0, 1) for jitter. Nil is math/rand/v2.
	Rand func() float64
}

// Transport is the resilience client for one upstream: an http.RoundTripper
// that applies the policies of doc.go to every request. It is safe for
// concurrent use; create one per upstream and share it.
type Transport struct {
	name   string
	p      Policy
	base   http.RoundTripper
	log    *slog.Logger
	m      *upstreamMetrics
	clock  Clock
	rand   func() float64
	budget *budget
	br     *breaker // nil when Policy.DisableBreaker
	bh     bulkhead
	client *http.Client
}

// New builds the policy stack for one upstream. It fails only on bad
// configuration (wrapping ErrConfig).
func New(cfg Config) (*Transport, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("%w: Name is required", ErrConfig)
	}
	p, err := cfg.Policy.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", cfg.Name, err)
	}
	t := &Transport{name: cfg.Name, p: p, base: cfg.Base, log: cfg.Logger, clock: cfg.Clock, rand: cfg.Rand}
	if t.base == nil {
		t.base = NewBaseTransport(p.MaxConcurrent)
	}
	if t.log == nil {
		t.log = observability.Discard()
	}
	if t.clock == nil {
		t.clock = realClock{}
	}
	if t.rand == nil {
		t.rand = rand.Float64
	}
	m := cfg.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	t.m = m.forUpstream(cfg.Name)
	t.budget = newBudget(t.clock, p.BudgetRatio, p.BudgetMinRetries, p.BudgetWindow)
	if !p.DisableBreaker {
		t.br = newBreaker(cfg.Name, p, t.clock, t.m, t.log)
	}
	t.bh = newBulkhead(p.MaxConcurrent)
	// No Client.Timeout: deadlines come from the request context and Policy.
	t.client = &http.Client{Transport: t}
	return t, nil
}

// NewBaseTransport returns the default wire: keep-alive with enough idle
// connections for maxConns concurrent attempts to one host, no proxy from
// the environment (the lab is loopback only), and no timeouts of its own
// beyond dialling, because the policy's context deadlines bound each attempt.
func NewBaseTransport(maxConns int) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          4 * maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns an *http.Client that sends through t. It has no Timeout:
// deadlines come from the request context and the Policy.
func (t *Transport) Client() *http.Client { return t.client }

// State returns the breaker state: "closed", "half_open" or "open". With
// DisableBreaker it is always "closed".
func (t *Transport) State() string {
	if t.br == nil {
		return stateNames[0]
	}
	return t.br.state()
}

// Policy returns the policy with defaults filled in.
func (t *Transport) Policy() Policy { return t.p }

// RoundTrip sends req through the stack. Its result is one of:
//   - a response with any status except 502, 503 and 504 (4xx, 429 and
//     500 included: those are answers, not unavailability), or a 503 that
//     carries DependencyHeader or LoadShedHeader. The caller must close the
//     body; that releases the bulkhead slot and the deadlines;
//   - an error wrapping ErrUpstream (*UpstreamError) when the upstream kept
//     failing with connection errors, timeouts, 502/503/504;
//   - an error wrapping ErrOpen (*OpenError), ErrBulkheadFull or ErrDeadline
//     when the call was refused without (another) network attempt;
//   - an error wrapping context.Canceled when the caller gave up.
//
// resilience.RetryAfter(err) tells the unavailable kinds apart from the rest.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := t.clock.Now()
	resp, attempts, outcome, err := t.call(req)
	t.m.calls[outcome].Inc()
	t.logCall(req, resp, attempts, outcome, err, t.clock.Now().Sub(start))
	return resp, err
}

// attempt results.
const (
	kindDone     = iota // a response for the caller
	kindRetry           // a failure worth another attempt
	kindFinal           // a failure that ends the call: err is ready for the caller
	kindRejected        // refused before the wire: err is ready for the caller
)

type attemptResult struct {
	kind   int
	resp   *http.Response
	cancel context.CancelFunc // the attempt's context; set when resp != nil
	err    error
}

func (t *Transport) call(req *http.Request) (*http.Response, int, int, error) {
	parent := req.Context()
	// (1) Deadline: the caller's, clipped by Policy.Timeout.
	now, deadline, err := t.callDeadline(req)
	if err != nil {
		return nil, 0, callRejected, err
	}
	// (2) Retries: only for requests that are safe to send twice, with a
	// body that can be sent twice.
	canRetry := t.p.MaxAttempts > 1 && retryable(req)
	req, replay, err := t.replayable(req, canRetry)
	if err != nil {
		return nil, 0, callFailure, err
	}

	t.budget.call()
	var rs retryState
	for n := 1; ; n++ {
		body := req.Body
		if n > 1 && replay != nil {
			var err error
			if body, err = replay(); err != nil {
				return nil, n - 1, callFailure, &UpstreamError{Upstream: t.name, Status: rs.lastStatus, Attempts: n - 1, Err: fmt.Errorf("replaying request body: %w", err)}
			}
		}
		if n > 1 {
			now = time.Now()
		}
		res := t.attempt(parent, now, deadline, req, body, n, rs.last)
		switch res.kind {
		case kindDone:
			resp, outcome := t.deliver(res)
			return resp, n, outcome, nil
		case kindRejected:
			if n == 1 {
				return nil, 0, callRejected, res.err
			}
			return nil, n - 1, callFailure, res.err
		case kindFinal:
			return nil, n, callFailure, res.err
		}

		// kindRetry: a connection error, an attempt timeout, or 502/503/504.
		delay, err := t.nextDelay(parent, deadline, res, n, canRetry, &rs)
		if err != nil {
			return nil, n, callFailure, err
		}
		if delay > 0 {
			select {
			case <-t.clock.After(delay):
			case <-parent.Done():
				return nil, n, callFailure, t.callerGone(parent.Err())
			}
		}
	}
}

// callDeadline is step (1): it returns the time and the call's deadline, or
// an error (the body closed) when the caller is gone or no time is left.
//
// The call's deadline is kept as a value, not a context: every attempt gets
// one context from the caller's, clipped to min(call deadline, attempt
// timeout), and waits between attempts are checked against it before they
// start. One context per attempt instead of two. Deadlines are wall-clock,
// as context's own are, so they read time.Now; the injected clock paces
// what the transport waits for itself (backoff and Retry-After waits).
func (t *Transport) callDeadline(req *http.Request) (now, deadline time.Time, err error) {
	parent := req.Context()
	if err := parent.Err(); err != nil {
		closeRequestBody(req)
		return now, deadline, t.callerGone(err)
	}
	now = time.Now()
	deadline = now.Add(t.p.Timeout)
	if d, ok := parent.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if deadline.Sub(now) < time.Millisecond {
		closeRequestBody(req)
		return now, deadline, fmt.Errorf("upstream %s: %w: no time left for the call: %w", t.name, ErrDeadline, context.DeadlineExceeded)
	}
	return now, deadline, nil
}

// replayable is step (2): when the call may be retried and has a body, it
// returns a function that gives the body again for each attempt, reading
// the body into memory when the request cannot replay it itself (req is
// then a copy carrying the buffered body).
func (t *Transport) replayable(req *http.Request, canRetry bool) (*http.Request, func() (io.ReadCloser, error), error) {
	if !canRetry || req.Body == nil || req.Body == http.NoBody {
		return req, nil, nil
	}
	if req.GetBody != nil {
		return req, req.GetBody, nil
	}
	buf, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return req, nil, fmt.Errorf("upstream %s: reading request body: %w", t.name, err)
	}
	replay := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	req = req.WithContext(req.Context())
	req.ContentLength = int64(len(buf))
	req.Body, _ = replay()
	return req, replay, nil
}

// deliver hands a kindDone response to the caller: its body releases the
// bulkhead slot and the attempt's context when closed.
func (t *Transport) deliver(res attemptResult) (*http.Response, int) {
	if res.resp.Body == nil || res.resp.Body == http.NoBody {
		res.cancel()
		t.bh.release()
	} else {
		res.resp.Body = &releaseBody{rc: res.resp.Body, t: t, cancel: res.cancel}
	}
	if res.resp.StatusCode >= 500 {
		return res.resp, callFailure
	}
	return res.resp, callSuccess
}

// retryState is what a call remembers of its previous attempt.
type retryState struct {
	last        error // the previous attempt's failure
	lastStatus  int
	lastProblem []byte
	jit         *jitter
}

// nextDelay records the failed attempt n in rs and decides on another: it
// returns how long to wait first, or the error that ends the call (the
// policy, the deadline or (3) the retry budget says no).
func (t *Transport) nextDelay(parent context.Context, deadline time.Time, res attemptResult, n int, canRetry bool, rs *retryState) (time.Duration, error) {
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
		return 0, &UpstreamError{Upstream: t.name, Status: rs.lastStatus, Attempts: n, Wait: wait, Problem: rs.lastProblem, Err: cause}
	}
	if !canRetry || n >= t.p.MaxAttempts {
		return giveUp(rs.last)
	}
	if parent.Err() != nil {
		return 0, t.callerGone(parent.Err())
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
	if time.Until(deadline) <= delay+time.Millisecond {
		return giveUp(fmt.Errorf("%w: no time left to wait %v for attempt %d: %w", ErrDeadline, delay, n+1, rs.last))
	}
	// (3) Retry budget.
	if !t.budget.tryRetry() {
		t.m.budgetExhausted.Inc()
		t.log.LogAttrs(parent, slog.LevelWarn, "retry budget of "+t.name+" exhausted",
			slog.String(observability.FieldEventAction, "retry.budget_exhausted"),
			slog.String(observability.FieldUpstream, t.name))
		return giveUp(fmt.Errorf("%w: %w", ErrBudgetExhausted, rs.last))
	}
	t.m.retries.Inc()
	t.logRetry(parent, n, rs, delay)
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

// attempt sends attempt n: (4) breaker, (5) attempt timeout, (6) bulkhead, wire.
func (t *Transport) attempt(parent context.Context, now, deadline time.Time, req *http.Request, body io.ReadCloser, n int, last error) attemptResult {
	// (4) Breaker, per attempt, so that retries feed the failure rate.
	done := func(error) {}
	if t.br != nil {
		var err error
		if done, err = t.br.allow(t.name, last); err != nil {
			closeBody(body, req)
			t.m.breakerRejections.Inc()
			t.log.LogAttrs(parent, slog.LevelWarn, "breaker of "+t.name+" refused a call",
				slog.String(observability.FieldEventAction, "breaker.rejected"),
				slog.String(observability.FieldUpstream, t.name))
			return attemptResult{kind: kindRejected, err: err}
		}
	}
	// (5) Attempt timeout, clipped by the call's deadline.
	actx, acancel, ad := t.attemptContext(parent, now, deadline)
	// (6) Bulkhead.
	if !t.bh.tryAcquire() {
		acancel()
		done(errAttemptExcluded)
		closeBody(body, req)
		t.m.bulkheadRejections.Inc()
		t.log.LogAttrs(parent, slog.LevelWarn, "bulkhead of "+t.name+" full",
			slog.String(observability.FieldEventAction, "bulkhead.rejected"),
			slog.String(observability.FieldUpstream, t.name))
		return attemptResult{kind: kindRejected, err: fmt.Errorf("upstream %s: %w (%d in flight)", t.name, ErrBulkheadFull, cap(t.bh))}
	}

	r := req.WithContext(actx)
	r.Body = body
	r.Header = t.header(actx, req.Header, ad)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		t.bh.release()
		// Classify before cancelling: a cancelled actx would read as a timeout.
		res := t.wireFailure(parent, actx, deadline, n, err, done)
		acancel()
		return res
	}
	return t.answered(resp, acancel, n, done)
}

// attemptContext returns the attempt's context and deadline: the attempt
// timeout from now, clipped by the call's deadline. When the caller's own
// deadline is sooner still, its context is used as is.
func (t *Transport) attemptContext(parent context.Context, now, deadline time.Time) (context.Context, context.CancelFunc, time.Time) {
	actx, acancel := parent, noCancel
	ad := now.Add(t.p.AttemptTimeout)
	if deadline.Before(ad) {
		ad = deadline
	}
	if pd, ok := parent.Deadline(); !ok || pd.After(ad) {
		actx, acancel = context.WithDeadline(parent, ad)
	}
	return actx, acancel, ad
}

// wireFailure classifies attempt n that got no response (err), reports it
// to the breaker through done and counts it.
func (t *Transport) wireFailure(parent, actx context.Context, deadline time.Time, n int, err error, done func(error)) attemptResult {
	switch {
	case parent.Err() != nil: // the caller gave up: not the upstream's fault
		done(errAttemptExcluded)
		t.m.attempts[attemptCanceled].Inc()
		return attemptResult{kind: kindFinal, err: t.callerGone(parent.Err())}
	case actx.Err() != nil && !time.Now().Before(deadline): // Policy.Timeout ran out during the attempt
		done(errAttemptFailed)
		t.m.attempts[attemptTimeout].Inc()
		return attemptResult{kind: kindFinal, err: &UpstreamError{Upstream: t.name, Attempts: n,
			Err: fmt.Errorf("%w: call timed out after %v: %w", ErrDeadline, t.p.Timeout, err)}}
	case actx.Err() != nil:
		done(errAttemptFailed)
		t.m.attempts[attemptTimeout].Inc()
		return attemptResult{kind: kindRetry, err: fmt.Errorf("attempt %d timed out after %v: %w", n, t.p.AttemptTimeout, err)}
	default:
		done(errAttemptFailed)
		t.m.attempts[attemptError].Inc()
		return attemptResult{kind: kindRetry, err: fmt.Errorf("attempt %d: %w", n, err)}
	}
}

// answered classifies attempt n's response by its status, reports it to the
// breaker through done and counts it.
func (t *Transport) answered(resp *http.Response, acancel context.CancelFunc, n int, done func(error)) attemptResult {
	code := resp.StatusCode
	switch {
	case code == http.StatusServiceUnavailable && resp.Header.Get(DependencyHeader) != "":
		done(errAttemptExcluded)
		t.m.attempts[attemptDependency].Inc()
	case code == http.StatusServiceUnavailable && resp.Header.Get(LoadShedHeader) != "":
		done(errAttemptExcluded)
		t.m.attempts[attemptShed].Inc()
	case code == http.StatusTooManyRequests:
		// The caller's own rate limit, not the upstream failing: final,
		// passed on with its Retry-After, and no concern of the breaker.
		done(errAttemptExcluded)
		t.m.attempts[attempt429].Inc()
	case retryableStatus(code):
		done(errAttemptFailed)
		t.m.attempts[attempt5xx].Inc()
		return attemptResult{kind: kindRetry, resp: resp, cancel: acancel, err: fmt.Errorf("attempt %d: status %d", n, code)}
	case code >= 500:
		done(errAttemptFailed)
		t.m.attempts[attempt5xx].Inc()
	case code >= 400: // the upstream answered; the request was wrong
		done(errAttemptExcluded)
		t.m.attempts[attempt4xx].Inc()
	default:
		done(nil)
		t.m.attempts[attemptSuccess].Inc()
	}
	return attemptResult{kind: kindDone, resp: resp, cancel: acancel}
}

// header returns the attempt's header: the caller's, plus the remaining
// budget and the trace context. The caller's map is shared value-for-value,
// not modified.
func (t *Transport) header(actx context.Context, in http.Header, deadline time.Time) http.Header {
	h := make(http.Header, len(in)+2)
	for k, v := range in {
		h[k] = v
	}
	vals := make([]string, 2)
	// Whole milliseconds left, less one for the trip: the callee starts its
	// clock on arrival, so the budget must not include the time in transit.
	vals[0] = strconv.FormatInt(max(time.Until(deadline).Milliseconds()-1, 1), 10)
	h[BudgetHeader] = vals[0:1:1]
	if sc, ok := observability.SpanFromContext(actx); ok {
		vals[1] = sc.String()
		h[observability.TraceparentHeader] = vals[1:2:2]
	}
	return h
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

// finish drains and closes a response the caller will not see, then frees
// its attempt's resources.
func (t *Transport) finish(res attemptResult) {
	_, _ = io.CopyN(io.Discard, res.resp.Body, 4<<10) // lets the connection be reused
	res.resp.Body.Close()
	res.cancel()
	t.bh.release()
}

// callerGone is the error for a call whose caller cancelled or ran out of time.
func (t *Transport) callerGone(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("upstream %s: %w: caller's deadline passed: %w", t.name, ErrDeadline, err)
	}
	return fmt.Errorf("upstream %s: call cancelled by the caller: %w", t.name, err)
}

func (t *Transport) logCall(req *http.Request, resp *http.Response, attempts, outcome int, err error, d time.Duration) {
	ctx := req.Context()
	level := slog.LevelDebug
	if outcome != callSuccess {
		level = slog.LevelWarn
	}
	if !t.log.Enabled(ctx, level) {
		return
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	attrs := []slog.Attr{
		slog.String(observability.FieldEventAction, "upstream.call"),
		slog.String(observability.FieldEventOutcome, callOutcomeNames[outcome]),
		slog.String(observability.FieldUpstream, t.name),
		slog.String("http.request.method", req.Method),
		slog.String("url.path", req.URL.Path),
		slog.Int("http.response.status_code", status),
		slog.Int64(observability.FieldEventDuration, d.Nanoseconds()),
		slog.Int("labels.attempts", attempts),
	}
	if err != nil {
		attrs = append(attrs, slog.String(observability.FieldErrorMessage, err.Error()))
		var ue *UpstreamError
		if errors.As(err, &ue) && ue.Status != 0 {
			attrs[5] = slog.Int("http.response.status_code", ue.Status)
		}
	}
	t.log.LogAttrs(ctx, level, req.Method+" "+t.name+" "+req.URL.Path+" "+callOutcomeNames[outcome], attrs...)
}

// releaseBody frees the attempt's deadline and bulkhead slot when the
// caller has read the body to the end or closed it, whichever comes first.
type releaseBody struct {
	rc       io.ReadCloser
	t        *Transport
	cancel   context.CancelFunc
	released atomic.Bool
}

func (b *releaseBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.release()
	}
	return n, err
}

func (b *releaseBody) Close() error {
	err := b.rc.Close()
	b.release()
	return err
}

func (b *releaseBody) release() {
	if b.released.CompareAndSwap(false, true) {
		b.cancel()
		b.t.bh.release()
	}
}

func noCancel() {}

// closeBody closes an attempt's body that will not be sent (RoundTrip must
// close the request body on every path).
func closeBody(body io.ReadCloser, _ *http.Request) {
	if body != nil {
		body.Close()
	}
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
