package resilience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/observability"
)

// Balancer names a load-balancing algorithm (Policy.Balancer, key lb).
type Balancer string

// Balancers.
const (
	// BalancerP2C is least-request by the power of two choices (Finagle,
	// Envoy): of two endpoints drawn at random, the one with fewer
	// attempts in flight. The default.
	BalancerP2C Balancer = "p2c"
	// BalancerRoundRobin takes the endpoints in turn.
	BalancerRoundRobin Balancer = "round-robin"
)

// DefaultResolveEvery is Config.ResolveEvery's default.
const DefaultResolveEvery = 5 * time.Second

// ErrNoEndpoints means the upstream has no endpoint to send to: Resolve
// found none and there are no static Endpoints.
var ErrNoEndpoints = errors.New("no endpoints")

// endpoint is one replica of the upstream. outstanding and until are read
// on every pick without a lock; the outlier counters are under mu.
type endpoint struct {
	base         string // as configured
	scheme, host string
	outstanding  atomic.Int64
	until        atomic.Int64 // Clock UnixNano until which it is ejected; 0 in service

	attempts prometheus.Counter
	ejectedG prometheus.Gauge

	mu            sync.Mutex
	consec5xx     int
	consecGateway int
	ejections     int       // the ejection multiplier
	returnedAt    time.Time // Clock time of the last return
	okN, failN    int64     // answers since the last success-rate evaluation
}

// balancer spreads attempts over the endpoints and keeps the outlier
// detector. It is safe for concurrent use.
type balancer struct {
	t       *Transport
	algo    Balancer
	static  []string
	resolve func(context.Context) ([]string, error)
	every   time.Duration
	set     atomic.Pointer[[]*endpoint]
	due     atomic.Int64 // Clock UnixNano of the next refresh
	busy    atomic.Bool  // a background refresh is running
	rr      atomic.Uint64
	mu      sync.Mutex // serialises refreshes
	out     *outlier
}

// newBalancer returns nil when cfg names no endpoints: requests then go
// where their URL says.
func newBalancer(t *Transport, cfg Config) (*balancer, error) {
	if len(cfg.Endpoints) == 0 && cfg.Resolve == nil {
		return nil, nil
	}
	if cfg.ResolveEvery < 0 {
		return nil, fmt.Errorf("%w: negative ResolveEvery", ErrConfig)
	}
	b := &balancer{t: t, algo: t.p.Balancer, static: cfg.Endpoints, resolve: cfg.Resolve, every: cfg.ResolveEvery}
	if b.every == 0 {
		b.every = DefaultResolveEvery
	}
	b.out = newOutlier(t, b)
	if _, err := b.install(nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return b, nil
}

// install makes the static endpoints plus found the current set, keeping
// the state of the endpoints that stay. Callers hold mu (or own b).
func (b *balancer) install(found []string) ([]*endpoint, error) {
	old := map[string]*endpoint{}
	if cur := b.set.Load(); cur != nil {
		for _, ep := range *cur {
			old[ep.base] = ep
		}
	}
	var eps []*endpoint
	seen := map[string]bool{}
	for _, s := range append(slices.Clip(b.static), found...) {
		if seen[s] {
			continue
		}
		seen[s] = true
		if ep := old[s]; ep != nil {
			eps = append(eps, ep)
			delete(old, s)
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("endpoint %q: want a base URL such as http://127.0.0.1:8083", s)
		}
		ep := &endpoint{base: s, scheme: u.Scheme, host: u.Host}
		ep.attempts = b.t.m.m.endpointAttempts.WithLabelValues(b.t.name, u.Host)
		ep.ejectedG = b.t.m.m.endpointEjected.WithLabelValues(b.t.name, u.Host)
		ep.ejectedG.Set(0)
		eps = append(eps, ep)
	}
	for _, ep := range old { // gone: their series go too
		b.t.m.m.endpointEjected.DeleteLabelValues(b.t.name, ep.host)
		b.t.m.m.endpointAttempts.DeleteLabelValues(b.t.name, ep.host)
	}
	b.set.Store(&eps)
	return eps, nil
}

// refresh asks Resolve for the endpoints and installs them. On failure the
// current set stays. Unless forced, it does nothing when a concurrent call
// has just resolved a set that is not empty (calls that found no endpoint
// resolve once, not once each).
func (b *balancer) refresh(ctx context.Context, force bool) error {
	if b.resolve == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !force && b.due.Load() > b.t.clock.Now().UnixNano() && len(*b.set.Load()) > 0 {
		return nil
	}
	b.due.Store(b.t.clock.Now().Add(b.every).UnixNano())
	found, err := b.resolve(ctx)
	if err == nil {
		_, err = b.install(found)
	}
	if err != nil {
		err = fmt.Errorf("upstream %s: resolving endpoints: %w", b.t.name, err)
		b.t.log.LogAttrs(ctx, slog.LevelWarn, err.Error(),
			slog.String(observability.FieldEventAction, "endpoint.resolve_failed"),
			slog.String(observability.FieldUpstream, b.t.name),
			slog.String(observability.FieldErrorMessage, err.Error()))
	}
	return err
}

// endpoints returns the current set: at once when there is one (starting
// a background refresh when one is due), else after resolving.
func (b *balancer) endpoints(ctx context.Context, now time.Time) []*endpoint {
	eps := *b.set.Load()
	if b.resolve == nil {
		return eps
	}
	if len(eps) == 0 || b.due.Load() == 0 {
		_ = b.refresh(ctx, false)
		return *b.set.Load()
	}
	if now.UnixNano() >= b.due.Load() && b.busy.CompareAndSwap(false, true) {
		go func() {
			defer b.busy.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), b.every)
			defer cancel()
			_ = b.refresh(ctx, true)
		}()
	}
	return eps
}

// Candidate levels of pick, best first.
const (
	levelFresh   = iota // in service, not tried by this call
	levelHealthy        // in service
	levelAny            // ejected too: better than nothing
	numLevels
)

// pick chooses the endpoint for attempt a and marks it tried.
func (b *balancer) pick(a *attempt) (*endpoint, error) {
	now := b.t.clock.Now()
	eps := b.endpoints(a.parent, now)
	if len(eps) == 0 {
		return nil, &UpstreamError{Upstream: b.t.name, Err: ErrNoEndpoints}
	}
	b.out.returnDue(eps, now)
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for level := range numLevels {
		n := 0
		for _, ep := range eps {
			if eligible(c, ep, level) {
				n++
			}
		}
		if n == 0 {
			continue
		}
		ep := b.choose(c, eps, level, n)
		if c.ntried < maxTried {
			c.tried[c.ntried] = ep
			c.ntried++
		}
		return ep, nil
	}
	return nil, &UpstreamError{Upstream: b.t.name, Err: ErrNoEndpoints} // unreachable: levelAny takes any
}

func eligible(c *call, ep *endpoint, level int) bool {
	switch level {
	case levelFresh:
		return ep.until.Load() == 0 && !c.triedLocked(ep)
	case levelHealthy:
		return ep.until.Load() == 0
	}
	return true
}

// choose returns one of the n endpoints of eps eligible at level.
func (b *balancer) choose(c *call, eps []*endpoint, level, n int) *endpoint {
	if b.algo == BalancerRoundRobin {
		return nth(c, eps, level, int(b.rr.Add(1)%uint64(n)))
	}
	i := min(int(b.t.rand()*float64(n)), n-1)
	first := nth(c, eps, level, i)
	if n == 1 {
		return first
	}
	j := min(int(b.t.rand()*float64(n-1)), n-2)
	if j >= i {
		j++
	}
	second := nth(c, eps, level, j)
	if second.outstanding.Load() < first.outstanding.Load() {
		return second
	}
	return first
}

// nth returns the kth endpoint of eps eligible at level.
func nth(c *call, eps []*endpoint, level, k int) *endpoint {
	for _, ep := range eps {
		if eligible(c, ep, level) {
			if k == 0 {
				return ep
			}
			k--
		}
	}
	return nil
}

// endpointPolicy is (6): it sends each attempt to an endpoint chosen by
// the balancer, a fresh one for a retry or a hedge when there is one
// (Envoy's previous-hosts predicate), and feeds the answer to the outlier
// detector.
func (t *Transport) endpointPolicy(next step) step {
	if t.lb == nil {
		return next
	}
	return func(a *attempt) result {
		ep, err := t.lb.pick(a)
		if err != nil {
			res := t.refuse(a, err)
			res.kind = kindFinal
			return res
		}
		ep.outstanding.Add(1)
		ep.attempts.Inc()
		a.ep = ep
		res := next(a)
		t.lb.out.record(ep, res)
		return res
	}
}

// EndpointStatus is one endpoint as Transport.Endpoints reports it.
type EndpointStatus struct {
	URL         string // the base URL
	Outstanding int    // attempts in flight
	Ejected     bool   // taken out by the outlier detector
}

// Endpoints reports the upstream's current endpoints; nil without any.
func (t *Transport) Endpoints() []EndpointStatus {
	if t.lb == nil {
		return nil
	}
	eps := *t.lb.set.Load()
	out := make([]EndpointStatus, len(eps))
	for i, ep := range eps {
		out[i] = EndpointStatus{URL: ep.base, Outstanding: int(ep.outstanding.Load()), Ejected: ep.until.Load() != 0}
	}
	return out
}

// Refresh resolves the endpoints now (Config.Resolve), without waiting for
// ResolveEvery. It is a no-op without a resolver.
func (t *Transport) Refresh(ctx context.Context) error {
	if t.lb == nil {
		return nil
	}
	return t.lb.refresh(ctx, true)
}

// ResolveDNS returns a Config.Resolve that looks up the host of target, a
// base URL such as "http://tasks.payment:8083" (Docker's per-task name) or
// a headless Kubernetes service, and answers one base URL per address,
// with target's scheme and port. r nil is net.DefaultResolver.
func ResolveDNS(r *net.Resolver, target string) (func(context.Context) ([]string, error), error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: resolve target %q: want a base URL such as http://tasks.payment:8083", ErrConfig, target)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	host, port := u.Hostname(), u.Port()
	return func(ctx context.Context) ([]string, error) {
		addrs, err := r.LookupHost(ctx, host)
		if err != nil {
			return nil, err
		}
		slices.Sort(addrs)
		out := make([]string, len(addrs))
		for i, ip := range addrs {
			h := ip
			if port != "" {
				h = net.JoinHostPort(ip, port)
			} else if ipv6(ip) {
				h = "[" + ip + "]"
			}
			out[i] = u.Scheme + "://" + h
		}
		return out, nil
	}, nil
}

func ipv6(ip string) bool {
	p := net.ParseIP(ip)
	return p != nil && p.To4() == nil
}
