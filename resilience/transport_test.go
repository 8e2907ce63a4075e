package resilience

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience/clocktest"
)

func TestNewRejectsBadConfig(t *testing.T) {
	tests := map[string]Config{
		"no name":           {},
		"negative timeout":  {Name: "user", Policy: Policy{Timeout: -1}},
		"ratio above 1":     {Name: "user", Policy: Policy{BreakerFailureRatio: 1.5}},
		"negative bulkhead": {Name: "user", Policy: Policy{MaxConcurrent: -1}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	tr, err := New(Config{Name: "user"})
	if err != nil {
		t.Fatal(err)
	}
	p := tr.Policy()
	if p.Timeout != 5*time.Second || p.AttemptTimeout != time.Second || p.MaxAttempts != 3 ||
		p.BudgetRatio != 0.2 || p.BudgetMinRetries != 3 || p.BreakerMinRequests != 10 ||
		p.BreakerHalfOpenProbes != 3 || p.MaxConcurrent != 64 || p.MaxRetryAfter != 2*time.Second {
		t.Fatalf("defaults not applied: %+v", p)
	}
	if tr.State() != "closed" {
		t.Fatalf("State = %q", tr.State())
	}
}

func TestBreakerTripsHalfOpensAndCloses(t *testing.T) {
	var healthy atomic.Bool
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		if healthy.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	clk := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Clock: clk, Policy: Policy{
		MaxAttempts: 1, BreakerMinRequests: 4, BreakerFailureRatio: 0.5,
		BreakerOpenTimeout: 30 * time.Second, BreakerHalfOpenProbes: 2,
	}})

	for i := range 4 {
		if _, err := r.get(t, up.URL); !errors.Is(err, ErrUpstream) {
			t.Fatalf("call %d: err = %v, want ErrUpstream", i, err)
		}
	}
	if got := r.t.State(); got != "open" {
		t.Fatalf("after 4 failures State = %q, want open", got)
	}

	// Open: refused at once, no network call, with a Retry-After hint.
	before := up.hits.Load()
	_, err := r.get(t, up.URL)
	var oe *OpenError
	if !errors.Is(err, ErrOpen) || !errors.As(err, &oe) {
		t.Fatalf("err = %v, want *OpenError", err)
	}
	if wait, ok := RetryAfter(err); !ok || wait != 30*time.Second {
		t.Fatalf("RetryAfter = %v, %v, want 30s", wait, ok)
	}
	if up.hits.Load() != before {
		t.Fatal("an open breaker let a call reach the network")
	}
	if got := r.counter(t, r.m.breakerRejections, "product"); got != 1 {
		t.Fatalf("breaker_rejections_total = %v", got)
	}

	// The open period runs on the injected clock only.
	healthy.Store(true)
	clk.Advance(30*time.Second - time.Nanosecond)
	if got := r.t.State(); got != "open" {
		t.Fatalf("1ns before the open period ends State = %q, want open", got)
	}
	clk.Advance(time.Nanosecond)
	if got := r.t.State(); got != "half_open" {
		t.Fatalf("after the open period State = %q, want half_open", got)
	}
	for i := range 2 {
		if resp, err := r.get(t, up.URL); err != nil || resp.StatusCode != 200 {
			t.Fatalf("probe %d: %v %v", i, resp, err)
		}
	}
	if got := r.t.State(); got != "closed" {
		t.Fatalf("after 2 good probes State = %q, want closed", got)
	}
	for _, tr := range [][2]string{{"closed", "open"}, {"open", "half_open"}, {"half_open", "closed"}} {
		if got := r.counter(t, r.m.breakerTransitions, "product", tr[0], tr[1]); got != 1 {
			t.Errorf("transitions %s->%s = %v, want 1", tr[0], tr[1], got)
		}
	}
	if got := value(t, r.m.breakerState.WithLabelValues("product", "closed")); got != 1 {
		t.Errorf("circuitbreaker_state{closed} = %v", got)
	}
	if n := r.logs.count("breaker.state_change"); n != 3 {
		t.Errorf("%d breaker.state_change lines, want 3", n)
	}
	if n := r.logs.count("breaker.rejected"); n != 1 {
		t.Errorf("%d breaker.rejected lines, want 1", n)
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	up := newUpstream(t, status(http.StatusBadGateway))
	clk := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Clock: clk, Policy: Policy{MaxAttempts: 1, BreakerMinRequests: 2, BreakerOpenTimeout: time.Minute}})
	for range 2 {
		_, _ = r.get(t, up.URL)
	}
	clk.Advance(time.Minute)
	if got := r.t.State(); got != "half_open" {
		t.Fatalf("State = %q after the open period, want half_open", got)
	}
	if _, err := r.get(t, up.URL); !errors.Is(err, ErrUpstream) {
		t.Fatalf("probe err = %v", err)
	}
	if got := r.t.State(); got != "open" {
		t.Fatalf("State = %q after a failed probe, want open", got)
	}
	// A new open period starts at the failed probe.
	clk.Advance(time.Minute - time.Nanosecond)
	if got := r.t.State(); got != "open" {
		t.Fatalf("State = %q before the second open period ends, want open", got)
	}
	clk.Advance(time.Nanosecond)
	if got := r.t.State(); got != "half_open" {
		t.Fatalf("State = %q after the second open period, want half_open", got)
	}
}

func TestBreakerHalfOpenAdmitsOnlyItsProbes(t *testing.T) {
	clk := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Clock: clk, Policy: Policy{BreakerMinRequests: 1, BreakerOpenTimeout: time.Second, BreakerHalfOpenProbes: 2}})
	b := r.t.br
	done, err := b.allow("product", nil)
	if err != nil {
		t.Fatal(err)
	}
	done(errAttemptFailed)
	if _, err := b.allow("product", nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("open: err = %v, want ErrOpen", err)
	}
	clk.Advance(time.Second)
	p1, err1 := b.allow("product", nil)
	p2, err2 := b.allow("product", nil)
	if err1 != nil || err2 != nil {
		t.Fatalf("probes refused: %v, %v", err1, err2)
	}
	if _, err := b.allow("product", nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("third probe: err = %v, want ErrOpen", err)
	}
	p1(errAttemptExcluded) // frees its slot, counts for nothing
	p3, err := b.allow("product", nil)
	if err != nil {
		t.Fatalf("probe after an exclusion: %v", err)
	}
	p2(nil)
	if got := b.state(); got != "half_open" {
		t.Fatalf("after 1 good probe State = %q, want half_open", got)
	}
	p3(nil)
	if got := b.state(); got != "closed" {
		t.Fatalf("after 2 good probes State = %q, want closed", got)
	}
	if c := b.counts(); c.Requests != 0 {
		t.Fatalf("closed again with counts %+v, want fresh ones", c)
	}
}

func TestRetryOnlyWhenSafe(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		key      string
		getBody  bool // use a body http.NewRequest can replay itself
		wantHits int64
	}{
		{"POST without key is sent once", http.MethodPost, "", true, 1},
		{"POST with key is retried (GetBody)", http.MethodPost, "k-1", true, 3},
		{"POST with key is retried (buffered)", http.MethodPost, "k-2", false, 3},
		{"PUT is retried", http.MethodPut, "", true, 3},
		{"GET is retried", http.MethodGet, "", true, 3},
		{"PATCH without key is sent once", http.MethodPatch, "", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies []string
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies = append(bodies, string(b))
				mu.Unlock()
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			r := newRig(t, Config{Clock: clocktest.NewAuto(clocktest.Epoch), Policy: Policy{DisableBreaker: true}})
			var body io.Reader = strings.NewReader(`{"sku":"A"}`)
			if !tt.getBody {
				body = io.MultiReader(body) // hides the type, so no GetBody
			}
			req, _ := http.NewRequest(tt.method, up.URL, body)
			if tt.key != "" {
				req.Header.Set(IdempotencyKeyHeader, tt.key)
			}
			_, err := r.do(req)
			var ue *UpstreamError
			if !errors.As(err, &ue) || ue.Status != 503 || ue.Attempts != int(tt.wantHits) {
				t.Fatalf("err = %v, want *UpstreamError with status 503 after %d attempts", err, tt.wantHits)
			}
			if got := up.hits.Load(); got != tt.wantHits {
				t.Fatalf("upstream saw %d requests, want %d", got, tt.wantHits)
			}
			for i, b := range bodies {
				if tt.method != http.MethodGet && b != `{"sku":"A"}` {
					t.Fatalf("attempt %d body %q: body was not replayed", i+1, b)
				}
			}
			if got := r.counter(t, r.m.clientRetries, "product"); got != float64(tt.wantHits-1) {
				t.Fatalf("client_retries_total = %v", got)
			}
			if n := r.logs.count("retry.attempt"); n != int(tt.wantHits-1) {
				t.Fatalf("%d retry.attempt lines", n)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	tests := []struct {
		name string
		ra   func(now time.Time) string
		want time.Duration
	}{
		{"seconds", func(time.Time) string { return "1" }, time.Second},
		{"HTTP-date", func(now time.Time) string { return now.Add(2 * time.Second).Format(http.TimeFormat) }, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New(clocktest.Epoch)
			var n atomic.Int64
			up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Retry-After", tt.ra(clock.Now()))
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			})
			r := newRig(t, Config{Clock: clock, Policy: Policy{DisableBreaker: true, Timeout: 10 * time.Second}})
			done := make(chan error, 1)
			go func() {
				resp, err := r.get(t, up.URL)
				if err == nil && resp.StatusCode != 200 {
					err = errors.New(resp.Status)
				}
				done <- err
			}()
			clock.BlockUntil(t, 1)
			if w := clock.Waits(); len(w) != 1 || w[0] != tt.want {
				t.Fatalf("client waited %v, want [%v]", w, tt.want)
			}
			if got := up.hits.Load(); got != 1 {
				t.Fatalf("retry sent before the wait ended: %d hits", got)
			}
			clock.Advance(tt.want)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := up.hits.Load(); got != 2 {
				t.Fatalf("%d hits, want 2", got)
			}
		})
	}
}

func TestRetryAfterTooLongGivesUp(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	clock := clocktest.New(clocktest.Epoch)
	r := newRig(t, Config{Clock: clock})
	_, err := r.get(t, up.URL)
	if !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v", err)
	}
	if wait, _ := RetryAfter(err); wait != 30*time.Second {
		t.Fatalf("RetryAfter = %v, want the upstream's 30s", wait)
	}
	if up.hits.Load() != 1 || len(clock.Waits()) != 0 {
		t.Fatalf("hits %d, waits %v: want one attempt, no wait", up.hits.Load(), clock.Waits())
	}
}

// TestGivingUpKeepsTheProblem: the upstream's last problem+json answer
// travels in the UpstreamError, so that a proxy can pass its explanation
// on; other bodies, and oversized ones, do not.
func TestGivingUpKeepsTheProblem(t *testing.T) {
	problemDoc := `{"title":"Service Unavailable","status":503,"detail":"payment is temporarily unavailable"}`
	tests := []struct {
		name, contentType, body string
		want                    string
	}{
		{"problem", "application/problem+json", problemDoc, problemDoc},
		{"problem with parameters", "application/problem+json; charset=utf-8", problemDoc, problemDoc},
		{"plain text", "text/plain", "upstream down", ""},
		{"oversized problem", "application/problem+json", `{"detail":"` + strings.Repeat("x", MaxProblemBytes) + `"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, tt.body)
			})
			r := newRig(t, Config{Clock: clocktest.New(clocktest.Epoch)})
			_, err := r.get(t, up.URL)
			var ue *UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want an *UpstreamError", err)
			}
			if string(ue.Problem) != tt.want {
				t.Errorf("Problem = %.80q, want %.80q", ue.Problem, tt.want)
			}
			if ue.Status != http.StatusServiceUnavailable || ue.Wait != 30*time.Second {
				t.Errorf("Status %d, Wait %v: want 503, 30s", ue.Status, ue.Wait)
			}
		})
	}
}

func TestBudgetCapsAmplification(t *testing.T) {
	up := newUpstream(t, status(http.StatusServiceUnavailable))
	const calls = 200
	r := newRig(t, Config{
		Clock:  clocktest.New(clocktest.Epoch), // time stands still: one window
		Rand:   zero,                           // no backoff waits
		Policy: Policy{DisableBreaker: true, MaxAttempts: 3},
	})
	for i := range calls {
		if _, err := r.get(t, up.URL); !errors.Is(err, ErrUpstream) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	hits := up.hits.Load()
	limit := int64(1.2*calls) + DefaultBudgetMinRetries
	t.Logf("%d calls -> %d upstream requests (no budget: %d, limit %d)", calls, hits, 3*calls, limit)
	if hits > limit {
		t.Fatalf("upstream saw %d requests for %d calls, want <= %d", hits, calls, limit)
	}
	if hits <= calls {
		t.Fatalf("no retries at all (%d requests): the budget should allow some", hits)
	}
	if got := r.counter(t, r.m.budgetExhausted, "product"); got == 0 {
		t.Fatal("retry_budget_exhausted_total not incremented")
	}
	if r.logs.count("retry.budget_exhausted") == 0 {
		t.Fatal("no retry.budget_exhausted log line")
	}
	_, err := r.get(t, up.URL)
	if !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v, want ErrBudgetExhausted and ErrUpstream", err)
	}
}

func TestBudgetWindowSlides(t *testing.T) {
	clock := clocktest.New(clocktest.Epoch)
	b := newBudget(clock, 0.5, 1, 10*time.Second)
	for range 4 {
		b.call(clock.Now())
	}
	for i := range 3 { // 0.5*4 + 1
		if !b.tryRetry() {
			t.Fatalf("retry %d refused", i)
		}
	}
	if b.tryRetry() {
		t.Fatal("4th retry allowed")
	}
	clock.Advance(11 * time.Second)
	if !b.tryRetry() {
		t.Fatal("floor retry refused in a new window")
	}
	if b.tryRetry() {
		t.Fatal("second retry allowed in an empty window with floor 1")
	}
}

func TestClientErrorsNeitherRetriedNorBreakerFailures(t *testing.T) {
	for _, code := range []int{400, 404, 409, 422} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			up := newUpstream(t, status(code))
			r := newRig(t, Config{Policy: Policy{BreakerMinRequests: 2, BreakerFailureRatio: 0.1}})
			for range 10 {
				resp, err := r.get(t, up.URL)
				if err != nil || resp.StatusCode != code {
					t.Fatalf("resp %v err %v: want the %d passed through", resp, err, code)
				}
			}
			if got := up.hits.Load(); got != 10 {
				t.Fatalf("%d hits for 10 calls: a %d was retried", got, code)
			}
			if got := r.t.State(); got != "closed" {
				t.Fatalf("State = %q: %d counted as failures", got, code)
			}
			if c := r.t.br.counts(); c.TotalFailures != 0 || c.TotalSuccesses != 0 || c.TotalExclusions != 10 {
				t.Fatalf("breaker counts %+v, want 10 exclusions", c)
			}
			if got := r.counter(t, r.m.clientRequests, "product", "success"); got != 10 {
				t.Fatalf("client_requests_total{success} = %v", got)
			}
		})
	}
}

// TestDependencyUnavailableIsFinal: a 503 that names the callee's own
// unavailable upstream is passed on at once, never retried, and never
// trips the breaker on the (healthy) callee.
func TestDependencyUnavailableIsFinal(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(DependencyHeader, "payment")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	r := newRig(t, Config{Name: "order", Policy: Policy{BreakerMinRequests: 2, BreakerFailureRatio: 0.1}, Clock: clocktest.New(clocktest.Epoch)})
	for range 10 {
		resp, err := r.get(t, up.URL)
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(DependencyHeader) != "payment" {
			t.Fatalf("resp %v err %v: want the 503 passed on", resp, err)
		}
		resp.Body.Close()
	}
	if got := up.hits.Load(); got != 10 {
		t.Fatalf("%d hits for 10 calls: a dependency 503 was retried", got)
	}
	if c := r.t.br.counts(); r.t.State() != "closed" || c.TotalFailures != 0 || c.TotalExclusions != 10 {
		t.Fatalf("breaker %s, counts %+v: want closed, 10 exclusions", r.t.State(), c)
	}
	if got := r.counter(t, r.m.clientAttempts, "order", "dependency_unavailable"); got != 10 {
		t.Fatalf("client_attempts_total{dependency_unavailable} = %v, want 10", got)
	}
	// The same 503 without the header is the callee's own failure (a POST
	// without a key: one attempt, no backoff to wait for).
	plain := newUpstream(t, status(http.StatusServiceUnavailable))
	for range 3 {
		req, err := http.NewRequest(http.MethodPost, plain.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.do(req); !errors.Is(err, ErrUpstream) && !errors.Is(err, ErrOpen) {
			t.Fatalf("plain 503: err %v, want the upstream counted unavailable", err)
		}
	}
	if c := r.t.br.counts(); c.TotalFailures == 0 && r.t.State() == "closed" {
		t.Fatalf("a plain 503 did not count against the breaker: %+v", c)
	}
}

// TestCallerLimitedOrShedIsFinal (issue 17): a 429 is the caller's own
// rate limit and a 503 with X-Load-Shed is a healthy callee protecting
// itself. Both are passed on at once with their Retry-After and problem
// body, never retried (not even a Retry-After within MaxRetryAfter), take
// no retry budget, and never count against the breaker: before, one client
// hammering a login opened the gateway's breaker on user for everyone.
func TestCallerLimitedOrShedIsFinal(t *testing.T) {
	const doc = `{"title":"Too Many Requests","status":429,"detail":"too many failed logins; try again later"}`
	tests := []struct {
		name    string
		code    int
		header  string
		outcome string
	}{
		{"429", http.StatusTooManyRequests, "", "status_429"},
		{"503 shed", http.StatusServiceUnavailable, LoadShedHeader, "shed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
				if tt.header != "" {
					w.Header().Set(tt.header, "login")
				}
				w.Header().Set("Retry-After", "0") // within any MaxRetryAfter: still not retried
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(tt.code)
				_, _ = io.WriteString(w, doc)
			})
			clock := clocktest.New(clocktest.Epoch)
			r := newRig(t, Config{Name: "user", Policy: Policy{BreakerMinRequests: 2, BreakerFailureRatio: 0.1, BudgetMinRetries: 100}, Clock: clock})
			for range 20 {
				req, err := http.NewRequest(http.MethodPost, up.URL, strings.NewReader(`{}`))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set(IdempotencyKeyHeader, "k") // retryable, were it a failure
				resp, err := r.t.Client().Do(req)
				if err != nil {
					t.Fatalf("err %v: want the %d passed on", err, tt.code)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.code || resp.Header.Get("Retry-After") != "0" || string(b) != doc {
					t.Fatalf("got %d, Retry-After %q, body %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
				}
			}
			if got := up.hits.Load(); got != 20 {
				t.Fatalf("%d hits for 20 calls: retried", got)
			}
			if len(clock.Waits()) != 0 {
				t.Fatalf("waited %v", clock.Waits())
			}
			if c := r.t.br.counts(); r.t.State() != "closed" || c.TotalFailures != 0 || c.TotalExclusions != 20 {
				t.Fatalf("breaker %s, counts %+v: want closed, 20 exclusions", r.t.State(), c)
			}
			if got := r.counter(t, r.m.clientAttempts, "user", tt.outcome); got != 20 {
				t.Fatalf("client_attempts_total{%s} = %v, want 20", tt.outcome, got)
			}
			if got := r.counter(t, r.m.clientRetries, "user"); got != 0 {
				t.Fatalf("client_retries_total = %v", got)
			}
		})
	}
}

func TestServerErrorOtherThan502to504IsReturned(t *testing.T) {
	up := newUpstream(t, status(http.StatusInternalServerError))
	r := newRig(t, Config{})
	resp, err := r.get(t, up.URL)
	if err != nil || resp.StatusCode != 500 || up.hits.Load() != 1 {
		t.Fatalf("resp %v err %v hits %d: want the 500 returned after one attempt", resp, err, up.hits.Load())
	}
	if c := r.t.br.counts(); c.TotalFailures != 1 {
		t.Fatalf("a 500 is a breaker failure; counts %+v", c)
	}
}

func TestCallerCancellationIsNotABreakerFailure(t *testing.T) {
	arrived := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	r := newRig(t, Config{Policy: Policy{BreakerMinRequests: 1, BreakerFailureRatio: 0.1}})
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL, nil)
		_, err := r.do(req)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUpstream) {
			t.Fatalf("call %d: err = %v, want context.Canceled and not ErrUpstream", i, err)
		}
		if _, ok := RetryAfter(err); ok {
			t.Fatalf("a cancelled call reads as upstream unavailable: %v", err)
		}
	}
	if got := up.hits.Load(); got != 5 {
		t.Fatalf("%d hits: a cancelled call was retried", got)
	}
	if got := r.t.State(); got != "closed" {
		t.Fatalf("State = %q: caller cancellation counted as failure", got)
	}
	if c := r.t.br.counts(); c.TotalFailures != 0 {
		t.Fatalf("breaker counts %+v", c)
	}
}

func TestNoTimeLeftFailsWithoutNetworkCall(t *testing.T) {
	up := newUpstream(t, status(200))
	r := newRig(t, Config{})
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL, nil)
	_, err := r.do(req)
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("err = %v, want ErrDeadline", err)
	}
	if up.hits.Load() != 0 {
		t.Fatal("network call made with no time left")
	}
	if got := r.counter(t, r.m.clientRequests, "product", "rejected"); got != 1 {
		t.Fatalf("client_requests_total{rejected} = %v", got)
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	var n atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // first attempt hangs until the client gives up on it
			return
		}
		w.WriteHeader(200)
	})
	r := newRig(t, Config{Rand: zero, Policy: Policy{AttemptTimeout: 50 * time.Millisecond}})
	resp, err := r.get(t, up.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("resp %v err %v", resp, err)
	}
	if got := r.counter(t, r.m.clientAttempts, "product", "timeout"); got != 1 {
		t.Fatalf("client_attempts_total{timeout} = %v", got)
	}
}

func TestBulkheadRejectsAtOnceWhenFull(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		w.WriteHeader(200)
	})
	r := newRig(t, Config{Policy: Policy{MaxConcurrent: 1}})
	first := make(chan error, 1)
	go func() { _, err := r.get(t, up.URL+"/slow"); first <- err }()
	<-arrived

	start := time.Now()
	_, err := r.get(t, up.URL+"/fast")
	if !errors.Is(err, ErrBulkheadFull) {
		t.Fatalf("err = %v, want ErrBulkheadFull", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("rejection took %v: the bulkhead queued", d)
	}
	if got := up.hits.Load(); got != 1 {
		t.Fatalf("%d hits: the rejected call reached the network", got)
	}
	if got := r.counter(t, r.m.bulkheadRejections, "product"); got != 1 {
		t.Fatalf("bulkhead_rejections_total = %v", got)
	}
	if r.logs.count("bulkhead.rejected") != 1 {
		t.Fatal("no bulkhead.rejected log line")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The slot is free again once the first body was closed.
	if resp, err := r.get(t, up.URL+"/fast"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after release: %v %v", resp, err)
	}
}

func TestBodyReleaseFreesSlot(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
	r := newRig(t, Config{Policy: Policy{MaxConcurrent: 1}})
	for i := range 3 { // each body read to EOF but never closed still frees the slot
		resp, err := r.t.Client().Get(up.URL)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != "hello" {
			t.Fatalf("body %q", b)
		}
	}
}

func TestPropagatesBudgetAndTrace(t *testing.T) {
	got := make(chan http.Header, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() })
	r := newRig(t, Config{Policy: Policy{AttemptTimeout: 800 * time.Millisecond}})
	sc := observability.SpanContext{TraceID: observability.NewTraceID(), SpanID: observability.NewSpanID(), Flags: "01"}
	ctx := observability.ContextWithSpan(context.Background(), sc)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL, nil)
	req.Header.Set("X-Custom", "kept")
	if _, err := r.do(req); err != nil {
		t.Fatal(err)
	}
	h := <-got
	ms, err := strconv.Atoi(h.Get(BudgetHeader))
	if err != nil || ms <= 0 || ms > 800 {
		t.Fatalf("%s = %q, want 1..800", BudgetHeader, h.Get(BudgetHeader))
	}
	if tp := h.Get(observability.TraceparentHeader); !strings.Contains(tp, sc.TraceID) {
		t.Fatalf("traceparent %q does not carry trace %s", tp, sc.TraceID)
	}
	if h.Get("X-Custom") != "kept" || req.Header.Get(BudgetHeader) != "" {
		t.Fatal("caller's header lost, or modified in place")
	}
	if !strings.Contains(r.logs.String(), `"trace.id":"`+sc.TraceID+`"`) {
		t.Fatal("upstream.call log line lacks trace.id")
	}
}

func TestCalleeStopsWhenCallerDeadlinePasses(t *testing.T) {
	type seen struct {
		deadline time.Time
		ended    time.Time
		err      error
	}
	res := make(chan seen, 1)
	var arrived atomic.Int64 // when the request reached the callee, before its Deadline middleware
	callee := Deadline(0)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, _ := r.Context().Deadline()
		<-r.Context().Done() // a callee that would work forever
		res <- seen{dl, time.Now(), r.Context().Err()}
	}))
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Store(time.Now().UnixNano())
		callee.ServeHTTP(w, r)
	})
	r := newRig(t, Config{Policy: Policy{MaxAttempts: 1, AttemptTimeout: 5 * time.Second}})

	callerDeadline := time.Now().Add(150 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), callerDeadline)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL, nil)
	start := time.Now()
	// The callee's deadline (truncated to whole ms) ends just before the
	// caller's, so the caller sees either its own ErrDeadline or the callee's
	// early answer; what matters is the callee's side.
	if _, err := r.do(req); err != nil && !errors.Is(err, ErrDeadline) {
		t.Fatalf("caller err = %v, want nil or ErrDeadline", err)
	}
	s := <-res
	// Transit time is unknowable to both sides: the client subtracts 1ms
	// for it, and the callee starts its clock on arrival. So the callee's
	// deadline may pass the caller's by at most the time the request took
	// to arrive, which on a loaded machine is more than a millisecond.
	transit := time.Duration(arrived.Load() - start.UnixNano())
	if s.deadline.IsZero() || s.deadline.After(callerDeadline.Add(transit+time.Millisecond)) {
		t.Fatalf("callee deadline %v, caller's %v, transit ≤ %v: callee may outlive its caller", s.deadline, callerDeadline, transit)
	}
	if s.err == nil {
		t.Fatal("callee context never ended")
	}
	if late := s.ended.Sub(callerDeadline); late > time.Second {
		t.Fatalf("callee worked %v past its caller's deadline", late)
	}
}

func TestDeadlineMiddleware(t *testing.T) {
	tests := []struct {
		header string
		max    time.Duration
		want   time.Duration // 0: no deadline
	}{
		{"250", 0, 250 * time.Millisecond},
		{"", 0, 0},
		{"abc", 0, 0},
		{"-5", 0, 0},
		{"1e3", 0, 0},
		{"12.5", 0, 0},
		{"99999999999999999999999", 0, 0},
		{"", 2 * time.Second, 2 * time.Second},
		{"junk", 2 * time.Second, 2 * time.Second},
		{"60000", 2 * time.Second, 2 * time.Second},
		{"100", 2 * time.Second, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.header+"/"+tt.max.String(), func(t *testing.T) {
			var left time.Duration
			var has bool
			h := Deadline(tt.max)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var dl time.Time
				dl, has = r.Context().Deadline()
				left = time.Until(dl)
				w.WriteHeader(204)
			}))
			req, _ := http.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				req.Header.Set(BudgetHeader, tt.header)
			}
			rec := &statusRecorder{}
			h.ServeHTTP(rec, req)
			if rec.code != 204 {
				t.Fatalf("status %d", rec.code)
			}
			if has != (tt.want > 0) {
				t.Fatalf("deadline set = %v, want %v", has, tt.want > 0)
			}
			if has && (left > tt.want || left < tt.want-time.Second/2) {
				t.Fatalf("deadline in %v, want about %v", left, tt.want)
			}
		})
	}
}

type statusRecorder struct {
	h    http.Header
	code int
}

func (s *statusRecorder) Header() http.Header {
	if s.h == nil {
		s.h = http.Header{}
	}
	return s.h
}
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(c int)           { s.code = c }

func TestMetricsMatchContract(t *testing.T) {
	up := newUpstream(t, status(200))
	r := newRig(t, Config{Name: "payment", Endpoints: []string{up.URL}})
	if _, err := r.get(t, up.URL); err != nil {
		t.Fatal(err)
	}
	r.m.hedges.WithLabelValues("payment").Inc()
	r.m.hedgeWins.WithLabelValues("payment").Inc()
	r.m.endpointEjections.WithLabelValues("payment", "h:1", "success_rate").Inc()
	tc := NewTokenCache(TokenCacheConfig{Metrics: r.m})
	_, _ = tc.Validate(context.Background(), "x")
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names bytes.Buffer
	for _, mf := range mfs {
		names.WriteString(mf.GetName() + "\n")
	}
	for _, want := range []string{
		"faultlab_circuitbreaker_state", "faultlab_client_requests_total", "faultlab_client_attempts_total",
		"faultlab_client_request_duration_seconds",
		"faultlab_token_cache_requests_total", "faultlab_token_validations_total",
		"faultlab_client_hedges_total", "faultlab_client_hedge_wins_total", "faultlab_endpoint_attempts_total",
		"faultlab_endpoint_ejected", "faultlab_endpoint_ejections_total",
	} {
		if !strings.Contains(names.String(), want+"\n") {
			t.Errorf("%s not registered; have:\n%s", want, names.String())
		}
	}
	if NewMetrics(r.reg) == nil { // a second call with the same registry must not panic
		t.Fatal("nil")
	}
}

// A refused connection is a connection error, not a timeout (regression:
// the attempt's context was cancelled before the failure was classified,
// so `faultlab incident` said "attempt 3 timed out after 800ms: dial tcp
// …: connection refused" for a 68 ms call).
func TestRefusedIsNotTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := newRig(t, Config{Policy: Policy{MaxAttempts: 1}})
	_, err = r.get(t, "http://"+addr+"/")
	if err == nil || strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "attempt 1: ") {
		t.Fatalf("err = %v, want attempt 1's connection error", err)
	}
	if got := r.counter(t, r.m.clientAttempts, "product", "error"); got != 1 {
		t.Errorf("attempts{outcome=error} = %g, want 1", got)
	}
	if got := r.counter(t, r.m.clientAttempts, "product", "timeout"); got != 0 {
		t.Errorf("attempts{outcome=timeout} = %g, want 0", got)
	}
}
