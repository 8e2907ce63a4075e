package resilience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
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
	// Endpoints are the base URLs of the upstream's replicas, such as
	// "http://127.0.0.1:8083". When Endpoints or Resolve is set, every
	// attempt goes to one of them (balancer.go): its scheme and host
	// replace the request's, its path is ignored. With neither, requests
	// go where their URL says, as a single endpoint.
	Endpoints []string
	// Resolve returns the current endpoints (base URLs, as Endpoints);
	// they are added to Endpoints. It is called at the first call and
	// then every ResolveEvery on Clock, in the background; a failure keeps
	// the last answer. ResolveDNS builds one for DNS names such as
	// tasks.<service> or a headless Kubernetes service.
	Resolve func(ctx context.Context) ([]string, error)
	// ResolveEvery is the refresh period of Resolve. Default 5s.
	ResolveEvery time.Duration
	// Base sends attempts on the wire. Nil means a *http.Transport tuned for
	// keep-alive to one host (see NewBaseTransport).
	Base http.RoundTripper
	// Logger receives the events of docs/CONTRACTS.md. Nil discards.
	Logger *slog.Logger
	// Metrics is the service's shared set. Nil records nothing.
	Metrics *Metrics
	// Clock drives waits, the budget window and durations. Nil is the real clock.
	Clock Clock
	// Rand returns a number in [0, 1) for jitter and for picking endpoints.
	// Nil is math/rand/v2.
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
	br     *breaker  // nil when Policy.DisableBreaker
	lb     *balancer // nil without endpoints
	lat    *latencies
	bh     bulkhead
	stack  step // the policies of compose, around wire
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
	if t.lb, err = newBalancer(t, cfg); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", cfg.Name, err)
	}
	t.lat = newLatencies(p.HedgeQuantile)
	t.bh = newBulkhead(p.MaxConcurrent)
	t.stack = t.compose()
	// No Client.Timeout: deadlines come from the request context and Policy.
	t.client = &http.Client{Transport: t}
	return t, nil
}

// compose builds the stack of doc.go, outermost first. A policy is a
// method that wraps the next step and returns it unchanged when it is off;
// adding one is adding its file and its line here.
func (t *Transport) compose() step {
	policies := []func(step) step{
		t.deadlinePolicy,       // (1) deadline.go
		t.retryPolicy,          // (2) retry.go
		t.budgetPolicy,         // (3) budget.go
		t.hedgePolicy,          // (4) hedge.go
		t.breakerPolicy,        // (5) breaker.go
		t.endpointPolicy,       // (6) balancer.go, outlier.go
		t.attemptTimeoutPolicy, // (7) timeout.go
		t.bulkheadPolicy,       // (8) bulkhead.go
	}
	s := step(t.wire) // wire.go
	for i := len(policies) - 1; i >= 0; i-- {
		s = policies[i](s)
	}
	return s
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

// State returns the breaker state. With DisableBreaker it is always
// StateClosed.
func (t *Transport) State() BreakerState {
	if t.br == nil {
		return StateClosed
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
// resilience.RetryAfter(err) tells the unavailable kinds apart from the
// rest, and MayHaveReached(err) whether the upstream may have acted on the
// request unseen.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := t.clock.Now()
	c := &call{req: req, parent: req.Context(), start: start}
	c.first.c, c.first.n, c.first.parent = c, 1, c.parent
	res := t.stack(&c.first)
	var resp *http.Response
	outcome := callFailure
	switch {
	case res.kind == kindDone:
		resp, outcome = t.deliver(res)
	case res.kind == kindRejected && c.sent.Load() == 0:
		outcome = callRejected
	}
	err := res.err
	if err != nil {
		err = &reachError{err: err, reached: c.inDoubt.Load()}
	}
	d := t.clock.Now().Sub(start)
	t.m.calls[outcome].Inc()
	t.m.duration.Observe(d.Seconds())
	t.logCall(req, resp, int(c.sent.Load()), outcome, err, d)
	return resp, err
}

// deliver hands a kindDone response to the caller: its body releases the
// attempt (bulkhead slot, context, endpoint) when closed or read to EOF.
func (t *Transport) deliver(res result) (*http.Response, int) {
	a := res.a
	if res.resp.Body == nil || res.resp.Body == http.NoBody {
		a.release(t)
	} else {
		a.rb.rc, a.rb.a, a.rb.t = res.resp.Body, a, t
		a.rb.released.Store(false)
		res.resp.Body = &a.rb
	}
	if res.resp.StatusCode >= 500 {
		return res.resp, callFailure
	}
	return res.resp, callSuccess
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
