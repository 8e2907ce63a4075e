package resilience

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/observability"
)

// TokenCacheConfig configures NewTokenCache. Only Fetch is required; the
// other zero fields take the defaults written beside them.
type TokenCacheConfig struct {
	// Fetch asks the user service to validate a token. It returns an error
	// wrapping auth.ErrInvalidToken for a bad token; any other error means
	// the answer is unknown (user unavailable). Nil makes every uncached
	// token unavailable.
	Fetch func(ctx context.Context, token string) (auth.Principal, error)
	// TTL is the longest a valid result is kept, never past the token's
	// exp. Default 30s.
	TTL time.Duration
	// RefreshAfter is the age at which a lookup asks Fetch again; if Fetch
	// is unavailable then, the cached result is served until TTL ("stale
	// hit"). Default TTL/2.
	RefreshAfter time.Duration
	// NegativeTTL is how long an invalid token is remembered, to spare the
	// user service from repeated bad tokens. Default 5s (capped at TTL).
	NegativeTTL time.Duration
	// FetchTimeout bounds one shared Fetch, which runs detached from the
	// cancellation of the caller that started it. Default 5s.
	FetchTimeout time.Duration
	// MaxEntries bounds the cache; the least recently used entry goes
	// first. Default 10000.
	MaxEntries int
	// Clock drives TTLs. Nil is the real clock.
	Clock Clock
	// Metrics is the service's shared set. Nil records nothing.
	Metrics *Metrics
	// Logger receives token_cache.* events. Nil discards.
	Logger *slog.Logger
}

// TokenCache is an auth.Validator that remembers the user service's answers.
// It is safe for concurrent use.
type TokenCache struct {
	cfg   TokenCacheConfig
	group singleflight.Group

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*list.Element // of *tokenEntry, keyed by SHA-256 of the token
	lru     *list.List                          // front = most recently used

	hit, miss, stale, unavail     prometheus.Counter
	valid, invalid, unavailResult prometheus.Counter
}

var _ auth.Validator = (*TokenCache)(nil)

type tokenEntry struct {
	key       [sha256.Size]byte
	p         auth.Principal
	invalid   bool
	refreshAt time.Time // after this, ask Fetch again
	expiresAt time.Time // after this, never served
}

// NewTokenCache returns a cache in front of cfg.Fetch.
func NewTokenCache(cfg TokenCacheConfig) *TokenCache {
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.RefreshAfter <= 0 || cfg.RefreshAfter > cfg.TTL {
		cfg.RefreshAfter = cfg.TTL / 2
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = 5 * time.Second
	}
	cfg.NegativeTTL = min(cfg.NegativeTTL, cfg.TTL)
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 5 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = observability.Discard()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	m := cfg.Metrics
	return &TokenCache{
		cfg:           cfg,
		entries:       make(map[[sha256.Size]byte]*list.Element),
		lru:           list.New(),
		hit:           m.tokenCache.WithLabelValues("hit"),
		miss:          m.tokenCache.WithLabelValues("miss"),
		stale:         m.tokenCache.WithLabelValues("stale_hit"),
		unavail:       m.tokenCache.WithLabelValues("unavailable"),
		valid:         m.tokenValidations.WithLabelValues("valid"),
		invalid:       m.tokenValidations.WithLabelValues("invalid"),
		unavailResult: m.tokenValidations.WithLabelValues("unavailable"),
	}
}

var errNoFetch = errors.New("token cache has no Fetch")

// Validate returns the Principal of token. Errors wrap auth.ErrInvalidToken
// (the token is bad: 401) or auth.ErrUnavailable (nobody can tell right
// now: 503 with Retry-After).
func (c *TokenCache) Validate(ctx context.Context, token string) (auth.Principal, error) {
	if token == "" {
		c.invalid.Inc()
		return auth.Principal{}, fmt.Errorf("empty token: %w", auth.ErrInvalidToken)
	}
	key := sha256.Sum256([]byte(token))
	cached, ok := c.lookup(key, c.cfg.Clock.Now())
	if ok && c.cfg.Clock.Now().Before(cached.refreshAt) {
		c.hit.Inc()
		return c.answer(cached)
	}

	p, err := c.fetch(ctx, key, token)
	switch {
	case err == nil:
		c.miss.Inc()
		c.valid.Inc()
		return p, nil
	case errors.Is(err, auth.ErrInvalidToken):
		c.miss.Inc()
		c.invalid.Inc()
		return auth.Principal{}, err
	}
	// Unavailable. A result that is still inside its TTL (and its token's
	// exp) is better than a 503.
	if ok && c.cfg.Clock.Now().Before(cached.expiresAt) {
		c.stale.Inc()
		c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "token validation unavailable; serving cached result",
			slog.String(observability.FieldEventAction, "token_cache.stale_hit"),
			slog.String(observability.FieldErrorMessage, err.Error()))
		return c.answer(cached)
	}
	c.unavail.Inc()
	c.unavailResult.Inc()
	c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "token validation unavailable and token not cached",
		slog.String(observability.FieldEventAction, "token_cache.unavailable"),
		slog.String(observability.FieldErrorMessage, err.Error()))
	return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
}

// answer turns a cached entry into Validate's result, counting it.
func (c *TokenCache) answer(e tokenEntry) (auth.Principal, error) {
	if e.invalid {
		c.invalid.Inc()
		return auth.Principal{}, fmt.Errorf("cached: %w", auth.ErrInvalidToken)
	}
	c.valid.Inc()
	p := e.p
	p.Roles = slices.Clone(p.Roles)
	return p, nil
}

// fetch runs one Fetch per token at a time; concurrent callers share it.
// The shared Fetch is detached from the starting caller's cancellation, so
// a caller that gives up fails alone; each caller still stops waiting when
// its own context ends.
func (c *TokenCache) fetch(ctx context.Context, key [sha256.Size]byte, token string) (auth.Principal, error) {
	ch := c.group.DoChan(string(key[:]), func() (any, error) {
		// A flight that finished between our lookup and DoChan has stored
		// its answer: use it rather than fetching again.
		if e, ok := c.lookup(key, c.cfg.Clock.Now()); ok && c.cfg.Clock.Now().Before(e.refreshAt) {
			if e.invalid {
				return auth.Principal{}, fmt.Errorf("cached: %w", auth.ErrInvalidToken)
			}
			return e.p, nil
		}
		if c.cfg.Fetch == nil {
			return auth.Principal{}, errNoFetch
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
		defer cancel()
		p, err := c.cfg.Fetch(fctx, token)
		now := c.cfg.Clock.Now()
		switch {
		case err == nil && !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt):
			err = fmt.Errorf("token expired at %v: %w", p.ExpiresAt, auth.ErrInvalidToken)
			c.store(key, tokenEntry{invalid: true}, now)
		case err == nil:
			c.store(key, tokenEntry{p: p}, now)
		case errors.Is(err, auth.ErrInvalidToken):
			c.store(key, tokenEntry{invalid: true}, now)
		}
		return p, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return auth.Principal{}, r.Err
		}
		p := r.Val.(auth.Principal)
		p.Roles = slices.Clone(p.Roles)
		return p, nil
	case <-ctx.Done():
		return auth.Principal{}, ctx.Err()
	}
}

// lookup returns a copy of the entry for key if it may still be served.
func (c *TokenCache) lookup(key [sha256.Size]byte, now time.Time) (tokenEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return tokenEntry{}, false
	}
	e := el.Value.(*tokenEntry)
	if !now.Before(e.expiresAt) {
		c.lru.Remove(el)
		delete(c.entries, key)
		return tokenEntry{}, false
	}
	c.lru.MoveToFront(el)
	return *e, true
}

// store remembers e, setting its times: a valid result lives TTL, never
// past its token's exp; an invalid one NegativeTTL.
func (c *TokenCache) store(key [sha256.Size]byte, e tokenEntry, now time.Time) {
	e.key = key
	if e.invalid {
		e.expiresAt = now.Add(c.cfg.NegativeTTL)
		e.refreshAt = e.expiresAt
	} else {
		e.expiresAt = now.Add(c.cfg.TTL)
		e.refreshAt = now.Add(c.cfg.RefreshAfter)
		if exp := e.p.ExpiresAt; !exp.IsZero() {
			if exp.Before(e.expiresAt) {
				e.expiresAt = exp
			}
			if exp.Before(e.refreshAt) {
				e.refreshAt = exp
			}
		}
		e.p.Roles = slices.Clone(e.p.Roles)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		*el.Value.(*tokenEntry) = e
		c.lru.MoveToFront(el)
		return
	}
	c.entries[key] = c.lru.PushFront(&e)
	for c.lru.Len() > c.cfg.MaxEntries {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*tokenEntry).key)
	}
}

// Len returns the number of cached entries.
func (c *TokenCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
