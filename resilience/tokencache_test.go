package resilience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience/clocktest"
)

// fakeUser is a user service: it knows some tokens, and can be down.
type fakeUser struct {
	mu     sync.Mutex
	tokens map[string]auth.Principal
	down   bool
	calls  atomic.Int64
}

func (f *fakeUser) fetch(_ context.Context, token string) (auth.Principal, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return auth.Principal{}, fmt.Errorf("user: %w", ErrUpstream)
	}
	p, ok := f.tokens[token]
	if !ok {
		return auth.Principal{}, fmt.Errorf("user says: %w", auth.ErrInvalidToken)
	}
	return p, nil
}

func (f *fakeUser) setDown(d bool) { f.mu.Lock(); f.down = d; f.mu.Unlock() }

type cacheRig struct {
	c     *TokenCache
	clock *clocktest.Clock
	user  *fakeUser
	m     *Metrics
	logs  *logBuf
}

func newCacheRig(tb testing.TB, cfg TokenCacheConfig, tokens map[string]auth.Principal) *cacheRig {
	tb.Helper()
	r := &cacheRig{clock: clocktest.New(clocktest.Epoch), user: &fakeUser{tokens: tokens}, m: NewMetrics(prometheus.NewRegistry()), logs: &logBuf{}}
	if cfg.Fetch == nil {
		cfg.Fetch = r.user.fetch
	}
	cfg.Clock, cfg.Metrics = r.clock, r.m
	cfg.Logger = observability.NewLogger(observability.LogOptions{Writer: r.logs, Level: slog.LevelDebug})
	r.c = NewTokenCache(cfg)
	return r
}

const goodToken = "eyJhbGciOiJFZERTQSJ9.good.signature"

func principal(exp time.Time) auth.Principal {
	return auth.Principal{UserID: "u1", Email: "a@example.test", Roles: []string{auth.RoleCustomer}, ExpiresAt: exp}
}

func TestTokenCacheHitsAndNeverOutlivesExp(t *testing.T) {
	exp := clocktest.Epoch.Add(10 * time.Second) // shorter than TTL and RefreshAfter
	r := newCacheRig(t, TokenCacheConfig{TTL: 30 * time.Second}, map[string]auth.Principal{goodToken: principal(exp)})
	ctx := context.Background()

	if p, err := r.c.Validate(ctx, goodToken); err != nil || p.UserID != "u1" {
		t.Fatalf("first: %v %v", p, err)
	}
	r.clock.Advance(9 * time.Second)
	if _, err := r.c.Validate(ctx, goodToken); err != nil {
		t.Fatal(err)
	}
	if n := r.user.calls.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (second lookup is a hit)", n)
	}
	// Past exp, with the user service down: the cache must not vouch for
	// an expired token, even though TTL has 20s left.
	r.user.setDown(true)
	r.clock.Set(exp)
	if _, err := r.c.Validate(ctx, goodToken); err == nil {
		t.Fatal("expired token served from cache")
	}
	// And with the user service up, the user service decides (here: the
	// token is still in its table, but its exp has passed, so the cache
	// refuses its answer too).
	r.user.setDown(false)
	if _, err := r.c.Validate(ctx, goodToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken for an expired token", err)
	}
}

func TestTokenCacheUserDown(t *testing.T) {
	far := clocktest.Epoch.Add(time.Hour)
	r := newCacheRig(t, TokenCacheConfig{TTL: 30 * time.Second}, map[string]auth.Principal{goodToken: principal(far)})
	ctx := context.Background()
	if _, err := r.c.Validate(ctx, goodToken); err != nil {
		t.Fatal(err)
	}
	r.user.setDown(true)

	t.Run("known token is served", func(t *testing.T) {
		if p, err := r.c.Validate(ctx, goodToken); err != nil || p.UserID != "u1" {
			t.Fatalf("%v %v", p, err)
		}
	})
	t.Run("unknown token is unavailable, not invalid", func(t *testing.T) {
		_, err := r.c.Validate(ctx, "never-seen-token-123")
		if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrUnavailable only", err)
		}
		if _, ok := RetryAfter(err); !ok {
			t.Fatal("the upstream's unavailability is lost from the error")
		}
	})
	t.Run("past RefreshAfter the cached result is a stale hit", func(t *testing.T) {
		r.clock.Advance(20 * time.Second)
		if _, err := r.c.Validate(ctx, goodToken); err != nil {
			t.Fatal(err)
		}
		if got := value(t, r.m.tokenCache.WithLabelValues("stale_hit")); got != 1 {
			t.Fatalf("stale_hit = %v", got)
		}
		if r.logs.count("token_cache.stale_hit") != 1 {
			t.Fatal("no token_cache.stale_hit line")
		}
	})
	t.Run("past TTL nothing is served", func(t *testing.T) {
		r.clock.Advance(11 * time.Second)
		if _, err := r.c.Validate(ctx, goodToken); !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable after TTL", err)
		}
	})
	if got := value(t, r.m.tokenCache.WithLabelValues("unavailable")); got != 2 {
		t.Fatalf("token_cache_requests_total{unavailable} = %v, want 2", got)
	}
	if got := value(t, r.m.tokenValidations.WithLabelValues("unavailable")); got != 2 {
		t.Fatalf("token_validations_total{unavailable} = %v, want 2", got)
	}
	if r.logs.count("token_cache.unavailable") != 2 {
		t.Fatal("token_cache.unavailable not logged")
	}
	if logs := r.logs.String(); strings.Contains(logs, goodToken) || strings.Contains(logs, "never-seen-token-123") {
		t.Fatal("a token was logged")
	}
}

func TestTokenCacheNegativeResults(t *testing.T) {
	r := newCacheRig(t, TokenCacheConfig{}, nil)
	ctx := context.Background()
	for range 3 {
		if _, err := r.c.Validate(ctx, "bad"); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := r.user.calls.Load(); n != 1 {
		t.Fatalf("%d fetches for a repeated bad token within NegativeTTL, want 1", n)
	}
	r.clock.Advance(5 * time.Second)
	_, _ = r.c.Validate(ctx, "bad")
	if n := r.user.calls.Load(); n != 2 {
		t.Fatalf("%d fetches after NegativeTTL, want 2", n)
	}
	if _, err := r.c.Validate(ctx, ""); !errors.Is(err, auth.ErrInvalidToken) || r.user.calls.Load() != 2 {
		t.Fatal("empty token not refused locally")
	}
}

func TestTokenCacheOneFetchForConcurrentMisses(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	far := clocktest.Epoch.Add(time.Hour)
	r := newCacheRig(t, TokenCacheConfig{Fetch: func(ctx context.Context, _ string) (auth.Principal, error) {
		calls.Add(1)
		<-release
		return principal(far), nil
	}}, nil)

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.c.Validate(context.Background(), goodToken)
			if err == nil && p.UserID != "u1" {
				err = fmt.Errorf("principal %+v", p)
			}
			errs <- err
		}()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("%d Fetch calls for %d concurrent validations, want 1", got, n)
	}
}

func TestTokenCacheCallerCancellationDoesNotFailOthers(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var fetchErr atomic.Value
	var calls atomic.Int64
	r := newCacheRig(t, TokenCacheConfig{Fetch: func(ctx context.Context, _ string) (auth.Principal, error) {
		calls.Add(1)
		close(started)
		<-release
		fetchErr.Store(fmt.Sprint(ctx.Err()))
		return principal(time.Time{}), nil
	}}, nil)

	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { _, err := r.c.Validate(ctxA, goodToken); errA <- err }()
	<-started
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("A: err = %v, want context.Canceled", err)
	}
	// B joins the Fetch that A started and A abandoned.
	errB := make(chan error, 1)
	go func() { _, err := r.c.Validate(context.Background(), goodToken); errB <- err }()
	close(release)
	if err := <-errB; err != nil {
		t.Fatalf("B failed because A gave up: %v", err)
	}
	if got := fetchErr.Load(); got != "<nil>" {
		t.Fatalf("Fetch saw ctx.Err() = %v: A's cancellation reached it", got)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d fetches", calls.Load())
	}
}

func TestTokenCacheBounded(t *testing.T) {
	tokens := map[string]auth.Principal{}
	for i := range 5 {
		tokens[fmt.Sprint("t", i)] = principal(time.Time{})
	}
	r := newCacheRig(t, TokenCacheConfig{MaxEntries: 3}, tokens)
	ctx := context.Background()
	for _, tok := range []string{"t0", "t1", "t2", "t0", "t3"} { // t1 is least recently used when t3 arrives
		if _, err := r.c.Validate(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.c.Len(); got != 3 {
		t.Fatalf("Len = %d, want 3", got)
	}
	before := r.user.calls.Load()
	_, _ = r.c.Validate(ctx, "t0") // still cached
	if r.user.calls.Load() != before {
		t.Fatal("recently used t0 was evicted")
	}
	_, _ = r.c.Validate(ctx, "t1") // evicted
	if r.user.calls.Load() != before+1 {
		t.Fatal("t1 should have been evicted and fetched again")
	}
}

func TestTokenCacheNoFetchIsUnavailable(t *testing.T) {
	c := NewTokenCache(TokenCacheConfig{})
	if _, err := c.Validate(context.Background(), "x"); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}
