package resilience

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/resilience/clocktest"
)

// replicaURL is what callers put in requests when the Transport has
// endpoints: the host is replaced by the endpoint's.
const replicaURL = "http://product.invalid/products/1"

// replicas starts n upstreams; handler(i) serves the ith.
func replicas(tb testing.TB, n int, handler func(i int) http.HandlerFunc) ([]*upstream, []string) {
	tb.Helper()
	ups := make([]*upstream, n)
	urls := make([]string, n)
	for i := range n {
		ups[i] = newUpstream(tb, handler(i))
		urls[i] = ups[i].URL
	}
	return ups, urls
}

func hostOf(tb testing.TB, raw string) string {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Host
}

func hits(ups []*upstream) []int64 {
	out := make([]int64, len(ups))
	for i, u := range ups {
		out[i] = u.hits.Load()
	}
	return out
}

func TestBalancerSpreadsLoad(t *testing.T) {
	for _, lb := range []Balancer{BalancerP2C, BalancerRoundRobin} {
		t.Run(string(lb), func(t *testing.T) {
			ups, urls := replicas(t, 3, func(int) http.HandlerFunc { return status(200) })
			rng := rand.New(rand.NewPCG(1, 2))
			r := newRig(t, Config{Endpoints: urls, Rand: rng.Float64, Policy: Policy{Balancer: lb}})
			const calls = 300
			for i := range calls {
				if resp, err := r.get(t, replicaURL); err != nil || resp.StatusCode != 200 {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			for i, h := range hits(ups) {
				if h < calls/5 {
					t.Errorf("endpoint %d got %d of %d calls: %v", i, h, calls, hits(ups))
				}
				if got := r.counter(t, r.m.endpointAttempts, "product", hostOf(t, urls[i])); got != float64(h) {
					t.Errorf("endpoint_attempts_total of %d = %v, want %d", i, got, h)
				}
			}
		})
	}
}

func TestP2CPrefersTheLessLoaded(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	ups, urls := replicas(t, 2, func(i int) http.HandlerFunc {
		if i == 1 {
			return status(200)
		}
		return func(w http.ResponseWriter, _ *http.Request) {
			arrived <- struct{}{}
			<-release
		}
	})
	// Rand zero draws endpoints 0 and 1; on a tie p2c takes the first.
	r := newRig(t, Config{Endpoints: urls, Rand: zero, Policy: Policy{MaxAttempts: 1}})
	done := make(chan error, 1)
	go func() { _, err := r.get(t, replicaURL); done <- err }()
	<-arrived // endpoint 0 has one request in flight
	for i := range 10 {
		if _, err := r.get(t, replicaURL); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := hits(ups); got[0] != 1 || got[1] != 10 {
		t.Fatalf("hits %v, want [1 10]: p2c sent calls to the busy endpoint", got)
	}
}

// outlierRig has three endpoints, the first of which answers 503, taken in
// turn, with time on a fake clock.
func outlierRig(t *testing.T, p Policy, n int, bad func(i int) bool) (*rig, []*upstream, []string, *clocktest.Clock) {
	t.Helper()
	ups, urls := replicas(t, n, func(i int) http.HandlerFunc {
		if bad(i) {
			return status(http.StatusServiceUnavailable)
		}
		return status(200)
	})
	clk := clocktest.New(clocktest.Epoch)
	p.Balancer, p.MaxAttempts, p.DisableBreaker = BalancerRoundRobin, 1, true
	r := newRig(t, Config{Endpoints: urls, Clock: clk, Policy: p})
	return r, ups, urls, clk
}

func ejected(tr *Transport) []bool {
	var out []bool
	for _, e := range tr.Endpoints() {
		out = append(out, e.Ejected)
	}
	return out
}

func TestOutlierEjectsAndReturns(t *testing.T) {
	r, ups, urls, clk := outlierRig(t, Policy{OutlierConsecutiveGateway: 2, OutlierBaseEjection: 10 * time.Second, OutlierMaxPercent: 50},
		3, func(i int) bool { return i == 0 })
	bad := hostOf(t, urls[0])
	for range 6 { // round robin: endpoint 0 fails twice
		_, _ = r.get(t, replicaURL)
	}
	if got := ejected(r.t); !slices.Equal(got, []bool{true, false, false}) {
		t.Fatalf("ejected %v, want the first only", got)
	}
	if g := r.counter(t, r.m.endpointAttempts, "product", bad); g != 2 {
		t.Fatalf("bad endpoint saw %v attempts before ejection, want 2", g)
	}
	if v := value(t, r.m.endpointEjected.WithLabelValues("product", bad)); v != 1 {
		t.Fatalf("endpoint_ejected = %v, want 1", v)
	}
	if n := r.logs.count("endpoint.ejected"); n != 1 {
		t.Fatalf("%d endpoint.ejected lines", n)
	}
	before := ups[0].hits.Load()
	for i := range 20 {
		if _, err := r.get(t, replicaURL); err != nil {
			t.Fatalf("call %d while ejected: %v", i, err)
		}
	}
	if ups[0].hits.Load() != before {
		t.Fatal("an ejected endpoint got traffic")
	}

	clk.Advance(10 * time.Second) // the first ejection: base × 1
	for range 6 {
		_, _ = r.get(t, replicaURL)
	}
	if n := r.logs.count("endpoint.returned"); n != 1 {
		t.Fatalf("%d endpoint.returned lines after the ejection time", n)
	}
	if ups[0].hits.Load() == before {
		t.Fatal("the returned endpoint got no traffic")
	}
	if got := ejected(r.t); !got[0] {
		t.Fatalf("still failing after its return, endpoint 0 should be out again: %v", got)
	}
	clk.Advance(10 * time.Second) // the second ejection lasts base × 2
	_, _ = r.get(t, replicaURL)
	if !ejected(r.t)[0] {
		t.Fatal("second ejection ended after base time, want base × 2")
	}
	clk.Advance(10 * time.Second)
	_, _ = r.get(t, replicaURL)
	if ejected(r.t)[0] {
		t.Fatal("second ejection did not end after base × 2")
	}
	if !strings.Contains(r.logs.String(), `"labels.endpoint":"`+bad+`"`) {
		t.Fatal("ejection lines do not name the endpoint")
	}
}

func TestOutlierMaxPercent(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		bad     int // the first bad endpoints fail
		percent int
		want    int // ejected
	}{
		{"cap of a quarter", 4, 3, 25, 1},
		{"half", 4, 3, 50, 2},
		{"at least one", 2, 2, 10, 1},
		{"a set of one is never ejected", 1, 1, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _, _ := outlierRig(t, Policy{OutlierConsecutiveGateway: 1, OutlierMaxPercent: tt.percent},
				tt.n, func(i int) bool { return i < tt.bad })
			for range 4 * tt.n {
				_, _ = r.get(t, replicaURL)
			}
			n := 0
			for _, e := range ejected(r.t) {
				if e {
					n++
				}
			}
			if n != tt.want {
				t.Fatalf("%d ejected (%v), want %d", n, ejected(r.t), tt.want)
			}
		})
	}
}

func TestOutlierSuccessRate(t *testing.T) {
	var calls atomic.Int64
	ups, urls := replicas(t, 4, func(i int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			// endpoint 0 fails one call in two; no run is long enough
			// for the consecutive rules.
			if i == 0 && calls.Add(1)%2 == 0 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(200)
		}
	})
	_ = ups
	clk := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Endpoints: urls, Clock: clk, Policy: Policy{
		Balancer: BalancerRoundRobin, MaxAttempts: 1, DisableBreaker: true, OutlierMaxPercent: 50,
		OutlierSuccessStdev: 1, OutlierSuccessMinRequests: 10, OutlierInterval: 10 * time.Second,
	}})
	for range 80 {
		_, _ = r.get(t, replicaURL)
	}
	clk.Advance(10 * time.Second)
	_, _ = r.get(t, replicaURL) // the first answer after the interval judges
	if got := ejected(r.t); !slices.Equal(got, []bool{true, false, false, false}) {
		t.Fatalf("ejected %v, want the first only", got)
	}
	if g := r.counter(t, r.m.endpointEjections, "product", hostOf(t, urls[0]), "success_rate"); g != 1 {
		t.Fatalf("endpoint_ejections_total{reason=success_rate} = %v", g)
	}
}

func TestRetryGoesToAnotherEndpoint(t *testing.T) {
	ups, urls := replicas(t, 3, func(i int) http.HandlerFunc {
		if i < 2 {
			return status(http.StatusServiceUnavailable)
		}
		return status(200)
	})
	// Rand zero: p2c would pick endpoint 0 again and again, were it not
	// for the previous-hosts rule.
	r := newRig(t, Config{Endpoints: urls, Rand: zero, Clock: clocktest.NewAuto(clocktest.Epoch),
		Policy: Policy{DisableBreaker: true, MaxAttempts: 3}})
	resp, err := r.get(t, replicaURL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("resp %v, err %v: want the third endpoint's 200", resp, err)
	}
	if got := hits(ups); !slices.Equal(got, []int64{1, 1, 1}) {
		t.Fatalf("hits %v, want one attempt on each endpoint", got)
	}
}

func TestHedgeTakesTheFastAnswer(t *testing.T) {
	arrived, cancelled := make(chan struct{}), make(chan struct{})
	ups, urls := replicas(t, 2, func(i int) http.HandlerFunc {
		if i == 1 {
			return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("fast")) }
		}
		return func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done() // slow: answers only when the client gives up
			close(cancelled)
		}
	})
	clk := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Endpoints: urls, Rand: zero, Clock: clk, Policy: Policy{HedgeDelay: 50 * time.Millisecond}})
	type answer struct {
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := r.t.Client().Get(replicaURL)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- answer{string(b), err}
	}()
	clk.BlockUntil(t, 1) // the hedge timer
	<-arrived            // and the first attempt is at the slow replica
	if w := clk.Waits(); len(w) != 1 || w[0] != 50*time.Millisecond {
		t.Fatalf("waits %v, want the 50ms hedge delay", w)
	}
	clk.Advance(50 * time.Millisecond)
	got := <-done
	if got.err != nil || got.body != "fast" {
		t.Fatalf("got %q, %v: want the fast replica's answer", got.body, got.err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow attempt was not cancelled")
	}
	if h := hits(ups); !slices.Equal(h, []int64{1, 1}) {
		t.Fatalf("hits %v", h)
	}
	if g := r.counter(t, r.m.hedges, "product"); g != 1 {
		t.Fatalf("client_hedges_total = %v", g)
	}
	if g := r.counter(t, r.m.hedgeWins, "product"); g != 1 {
		t.Fatalf("client_hedge_wins_total = %v", g)
	}
	// The loser is classified in the background once its cancellation
	// lands: poll with a deadline.
	for deadline := time.Now().Add(10 * time.Second); r.counter(t, r.m.clientAttempts, "product", "canceled") != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the slow attempt was not counted as canceled")
		}
		time.Sleep(time.Millisecond)
	}
	if r.t.State() != StateClosed {
		t.Fatal("a cancelled hedge counted against the breaker")
	}
}

func TestHedgeWaitsForTheOtherWhenOneFails(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	_, urls := replicas(t, 2, func(i int) http.HandlerFunc {
		if i == 0 {
			return func(w http.ResponseWriter, _ *http.Request) {
				arrived <- struct{}{}
				<-release // slow, then fails
				w.WriteHeader(http.StatusBadGateway)
			}
		}
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
	})
	clk := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Endpoints: urls, Rand: zero, Clock: clk, Policy: Policy{HedgeDelay: time.Second, MaxAttempts: 1}})
	done := make(chan error, 1)
	go func() {
		resp, err := r.get(t, replicaURL)
		if err == nil && resp.StatusCode != 200 {
			err = errors.New(resp.Status)
		}
		done <- err
	}()
	clk.BlockUntil(t, 1)
	<-arrived
	clk.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(release)
}

func TestHedgeableRequests(t *testing.T) {
	tr, err := New(Config{Name: "product", Endpoints: []string{"http://a:1", "http://b:1"}, Policy: Policy{HedgeDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	withKey := http.Header{IdempotencyKeyHeader: {"k"}}
	for _, tt := range []struct {
		method string
		header http.Header
		posts  bool
		want   bool
	}{
		{http.MethodGet, nil, false, true},
		{http.MethodHead, nil, false, true},
		{http.MethodPost, withKey, false, false},
		{http.MethodPost, withKey, true, true},
		{http.MethodPost, nil, true, false},
		{http.MethodPut, nil, true, false},
	} {
		tr.p.HedgePosts = tt.posts
		c := &call{req: &http.Request{Method: tt.method, Header: tt.header}}
		if tt.method == http.MethodPost && tt.header != nil {
			c.replay = func() (io.ReadCloser, error) { return nil, nil }
		}
		if got := tr.hedgeable(c); got != tt.want {
			t.Errorf("%s %v posts=%v: hedgeable %v, want %v", tt.method, tt.header, tt.posts, got, tt.want)
		}
	}
}

func TestResolverRefreshes(t *testing.T) {
	a, b := newUpstream(t, status(200)), newUpstream(t, status(200))
	var current atomic.Pointer[[]string]
	current.Store(&[]string{a.URL})
	var lookups atomic.Int64
	clk := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Clock: clk, ResolveEvery: 5 * time.Second,
		Resolve: func(context.Context) ([]string, error) { lookups.Add(1); return *current.Load(), nil }})
	if _, err := r.get(t, replicaURL); err != nil {
		t.Fatal(err)
	}
	if a.hits.Load() != 1 || lookups.Load() != 1 {
		t.Fatalf("hits %d, lookups %d: the first call resolves, then sends", a.hits.Load(), lookups.Load())
	}
	current.Store(&[]string{b.URL})
	if _, err := r.get(t, replicaURL); err != nil || a.hits.Load() != 2 {
		t.Fatalf("before ResolveEvery the set must not change: %v, hits %d", err, a.hits.Load())
	}
	clk.Advance(5 * time.Second)
	_, _ = r.get(t, replicaURL) // starts a background refresh
	deadline := time.Now().Add(10 * time.Second)
	for {
		if eps := r.t.Endpoints(); len(eps) == 1 && eps[0].URL == b.URL {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints %v, want [%s] after the refresh", r.t.Endpoints(), b.URL)
		}
		time.Sleep(time.Millisecond) // polling with a deadline, not waiting for state
	}
	if _, err := r.get(t, replicaURL); err != nil || b.hits.Load() != 1 {
		t.Fatalf("after the refresh calls go to the new endpoint: %v, hits %d", err, b.hits.Load())
	}
}

func TestResolverFindsNothing(t *testing.T) {
	r := newRig(t, Config{Resolve: func(context.Context) ([]string, error) { return nil, nil }})
	_, err := r.get(t, replicaURL)
	if !errors.Is(err, ErrNoEndpoints) || !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v, want ErrNoEndpoints and ErrUpstream", err)
	}
	if _, ok := RetryAfter(err); !ok {
		t.Fatal("no endpoints should read as unavailable")
	}
	r = newRig(t, Config{Resolve: func(context.Context) ([]string, error) { return []string{"ftp://x"}, nil }})
	if _, err := r.get(t, replicaURL); !errors.Is(err, ErrNoEndpoints) {
		t.Fatalf("err = %v, want ErrNoEndpoints for a bad answer", err)
	}
	if !strings.Contains(r.logs.String(), `"event.action":"endpoint.resolve_failed"`) {
		t.Fatal("no endpoint.resolve_failed line")
	}
}

func TestResolveDNS(t *testing.T) {
	resolve, err := ResolveDNS(nil, "http://localhost:8083")
	if err != nil {
		t.Fatal(err)
	}
	got, err := resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "http://127.0.0.1:8083") {
		t.Fatalf("localhost resolved to %v, want http://127.0.0.1:8083 among them", got)
	}
	for _, bad := range []string{"tasks.payment:8083", "ftp://x", "http://"} {
		if _, err := ResolveDNS(nil, bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: err = %v, want ErrConfig", bad, err)
		}
	}
}

func TestEndpointConfigErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"not a URL":        {Name: "p", Endpoints: []string{"127.0.0.1:80"}},
		"bad balancer":     {Name: "p", Policy: Policy{Balancer: "random"}},
		"percent above":    {Name: "p", Policy: Policy{OutlierMaxPercent: 101}},
		"quantile above":   {Name: "p", Policy: Policy{HedgeQuantile: 2}},
		"min above max":    {Name: "p", Policy: Policy{HedgeMinDelay: time.Second, HedgeMaxDelay: time.Millisecond}},
		"negative resolve": {Name: "p", Endpoints: []string{"http://a:1"}, ResolveEvery: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

// TestPickProperties: whatever the load, the ejections and the endpoints a
// call has tried, pick returns an endpoint of the best level available, and
// p2c never takes the busier of the two it drew.
func TestPickProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 2000 {
		n := 1 + rng.IntN(6)
		urls := make([]string, n)
		for i := range urls {
			urls[i] = "http://10.0.0." + string(rune('1'+i)) + ":80"
		}
		tr, err := New(Config{Name: "p", Endpoints: urls, Rand: rng.Float64})
		if err != nil {
			t.Fatal(err)
		}
		eps := *tr.lb.set.Load()
		c := &call{parent: context.Background()}
		a := &attempt{c: c, parent: c.parent}
		for _, ep := range eps {
			ep.outstanding.Store(int64(rng.IntN(4)))
			if rng.IntN(3) == 0 {
				ep.until.Store(tr.clock.Now().Add(time.Hour).UnixNano())
			}
			if rng.IntN(3) == 0 {
				c.tried[c.ntried] = ep
				c.ntried++
			}
		}
		best := numLevels
		for level := range numLevels {
			for _, ep := range eps {
				if eligible(c, ep, level) && level < best {
					best = level
				}
			}
		}
		ep, err := tr.lb.pick(a)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if c.tried[c.ntried-1] != ep {
			t.Fatalf("round %d: the pick was not marked tried", round)
		}
		c.ntried-- // judge the pick against the call as it was
		if !eligible(c, ep, best) {
			t.Fatalf("round %d: picked an endpoint not of level %d", round, best)
		}
		others, notBusier := 0, false
		for _, e := range eps {
			if eligible(c, e, best) && e != ep {
				others++
				notBusier = notBusier || e.outstanding.Load() >= ep.outstanding.Load()
			}
		}
		if others > 0 && !notBusier {
			t.Fatalf("round %d: p2c picked the busiest endpoint of its level", round)
		}
	}
}

func TestAdaptiveHedgeDelay(t *testing.T) {
	tr, err := New(Config{Name: "p", Endpoints: []string{"http://a:1", "http://b:1"},
		Policy: Policy{HedgeQuantile: 0.9, HedgeMinDelay: 2 * time.Millisecond, HedgeMaxDelay: 80 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.hedgeDelay(); d != 80*time.Millisecond {
		t.Fatalf("delay %v before any latency is known, want the max", d)
	}
	for i := range 100 { // 1ms … 100ms
		tr.lat.observe(time.Duration(i+1) * time.Millisecond)
	}
	if d := tr.hedgeDelay(); d != 80*time.Millisecond {
		t.Fatalf("p90 of 1…100ms is 91ms, clipped to the max 80ms; got %v", d)
	}
	for range latencyWindow { // the window forgets: now all 10ms
		tr.lat.observe(10 * time.Millisecond)
	}
	if d := tr.hedgeDelay(); d != 10*time.Millisecond {
		t.Fatalf("delay %v, want the p90 10ms", d)
	}
	for range latencyWindow {
		tr.lat.observe(time.Microsecond)
	}
	if d := tr.hedgeDelay(); d != 2*time.Millisecond {
		t.Fatalf("delay %v, want the min 2ms", d)
	}
}

func TestHedgeSpendsTheBudget(t *testing.T) {
	_, urls := replicas(t, 2, func(int) http.HandlerFunc { return status(200) })
	clk := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Endpoints: urls, Clock: clk, Policy: Policy{HedgeDelay: time.Second, BudgetMinRetries: 1, BudgetRatio: 0.01}})
	c := &call{parent: context.Background(), budget: r.t.budget}
	a := &attempt{c: c, n: 1}
	if h := r.t.hedgeAttempt(a); h == nil {
		t.Fatal("the floor of the budget allows one hedge")
	}
	if h := r.t.hedgeAttempt(a); h != nil {
		t.Fatal("a second hedge with the budget spent")
	}
	if g := r.counter(t, r.m.hedges, "product"); g != 1 {
		t.Fatalf("client_hedges_total = %v", g)
	}
}

// TestBreakerOpensOnlyWhenTheServiceFails: one replica of three failing is
// retried around and ejected, and the breaker stays closed; all three
// failing open it.
func TestBreakerOpensOnlyWhenTheServiceFails(t *testing.T) {
	for _, tt := range []struct {
		bad      int
		wantOpen bool
	}{{1, false}, {3, true}} {
		t.Run(strconv.Itoa(tt.bad)+" failing", func(t *testing.T) {
			_, urls := replicas(t, 3, func(i int) http.HandlerFunc {
				if i < tt.bad {
					return status(http.StatusServiceUnavailable)
				}
				return status(200)
			})
			rng := rand.New(rand.NewPCG(3, 4))
			r := newRig(t, Config{Endpoints: urls, Rand: rng.Float64, Clock: clocktest.NewAuto(clocktest.Epoch),
				Policy: Policy{BreakerMinRequests: 6, BreakerFailureRatio: 0.5, BudgetRatio: 1}})
			failed := 0
			for range 60 {
				if _, err := r.get(t, replicaURL); err != nil {
					failed++
				}
			}
			if open := r.t.State() == StateOpen; open != tt.wantOpen {
				t.Fatalf("breaker %s after 60 calls (%d failed), want open=%v", r.t.State(), failed, tt.wantOpen)
			}
			if !tt.wantOpen {
				if failed != 0 {
					t.Fatalf("%d calls failed with two healthy replicas", failed)
				}
				if got := ejected(r.t); !got[0] {
					t.Fatalf("ejected %v, want the failing replica out", got)
				}
			}
		})
	}
}

// TestHedgePosts: a POST is hedged only with HedgePosts and an
// Idempotency-Key, and then its body goes to both replicas.
func TestHedgePosts(t *testing.T) {
	for _, tt := range []struct {
		name      string
		key       string
		wantHedge bool
	}{{"with a key", "k-1", true}, {"without a key", "", false}} {
		t.Run(tt.name, func(t *testing.T) {
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			bodies := make(chan string, 2)
			_, urls := replicas(t, 2, func(i int) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					bodies <- string(b)
					if i == 0 {
						arrived <- struct{}{}
						select { // slow
						case <-release:
						case <-r.Context().Done():
						}
					}
					w.WriteHeader(http.StatusCreated)
				}
			})
			clk := clocktest.New(clocktest.Epoch)
			r := newRig(t, Config{Endpoints: urls, Rand: zero, Clock: clk, Policy: Policy{HedgeDelay: 20 * time.Millisecond, HedgePosts: true}})
			req, _ := http.NewRequest(http.MethodPost, replicaURL, strings.NewReader(`{"sku":"A"}`))
			if tt.key != "" {
				req.Header.Set(IdempotencyKeyHeader, tt.key)
			}
			done := make(chan error, 1)
			go func() { _, err := r.do(req); done <- err }()
			<-arrived
			if !tt.wantHedge {
				if n := clk.Waiters(); n != 0 {
					t.Fatalf("%d timers for a POST without a key: it would be hedged", n)
				}
				close(release)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				return
			}
			clk.BlockUntil(t, 1)
			clk.Advance(20 * time.Millisecond)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if b := <-bodies; b != `{"sku":"A"}` {
					t.Fatalf("a replica got body %q", b)
				}
			}
		})
	}
}
