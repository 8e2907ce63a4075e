// Package resilience is the client side of every call between services,
// plus the two server-side pieces that belong to it (the Deadline middleware
// and the TokenCache).
//
// # Composition
//
// New(Config) returns a *Transport, an http.RoundTripper for one upstream.
// It applies these policies, outermost first, and the code in transport.go
// builds them in this order:
//
//	caller ctx
//	  │
//	  ▼
//	(1) deadline   caller's ctx deadline, clipped by Policy.Timeout; no time left
//	  │            → ErrDeadline, no network call
//	  ▼
//	(2) retries    idempotent methods (GET HEAD OPTIONS PUT DELETE) or an
//	  │            Idempotency-Key; on connection errors, attempt timeouts,
//	  │            502 503 504 (never 429); full-jitter exponential backoff
//	  │            (cenkalti/backoff/v4) or the upstream's Retry-After
//	  │            (≤ MaxRetryAfter, else give up); waits on Clock
//	  ▼
//	(3) budget     per upstream: retries ≤ BudgetRatio × calls + BudgetMinRetries
//	  │            in a sliding BudgetWindow → else ErrBudgetExhausted
//	  ▼
//	(4) breaker    per upstream, per ATTEMPT (sony/gobreaker/v2): open → *OpenError
//	  │            (ErrOpen, RetryAfter = rest of the open interval), no network call
//	  ▼
//	(5) attempt    context deadline min(call deadline, AttemptTimeout); the rest
//	  │  timeout   is sent downstream in X-Request-Budget-Ms
//	  ▼
//	(6) bulkhead   per upstream, MaxConcurrent attempts in flight; full → ErrBulkheadFull
//	  │            at once, never queued
//	  ▼
//	Config.Base (the wire)          upstream: Deadline middleware sets its ctx
//	                                from X-Request-Budget-Ms
//
// The breaker sees attempts, not logical calls, so that retries feed its
// failure rate and a retry storm trips it sooner; the budget (3) bounds how
// much retries can amplify load on a failing upstream (≈ 1 + BudgetRatio),
// whatever MaxAttempts says. A bulkhead rejection ends the call at once: it
// is local back-pressure, not upstream failure.
//
// # What counts as what
//
//	attempt result                 breaker    retried   caller gets
//	2xx 3xx                        success    no        the response
//	4xx (not 429)                  excluded   no        the response (pass it through)
//	429                            excluded   no        the response, Retry-After and problem
//	                                                    body intact (pass it through)
//	503 + X-Dependency-Unavailable excluded   no        the response: the callee is up and
//	                                                    answered for its own upstream
//	503 + X-Load-Shed              excluded   no        the response: the callee is up and
//	                                                    shed the request to protect itself
//	500, 501, 505...               failure    no        the response
//	502 503 504                    failure    yes*      *UpstreamError (ErrUpstream, Status,
//	                                                    the last problem+json body)
//	connection error, timeout      failure    yes*      *UpstreamError (ErrUpstream)
//	caller's ctx cancelled/expired excluded   never     ErrDeadline / context.Canceled
//	bulkhead full                  excluded   no        ErrBulkheadFull
//	  * if the request is retryable, attempts and budget remain, and a
//	    Retry-After is no longer than MaxRetryAfter.
//
// A 429 is the caller's own rate limit (for the gateway: the client's), not
// the upstream failing. It never counts against the breaker (a client that
// hammers a login would otherwise open the breaker for everyone) and is
// never retried, even within MaxRetryAfter: the upstream has said this
// caller must wait, a retry would spend the caller's allowance faster, and
// a limit's Retry-After is usually far longer than any call's deadline. It
// takes no retry budget, since no retry is made. The caller passes it on.
// A shed 503 (X-Load-Shed) is final for the same reasons: a retry adds the
// very load that was shed.
//
// So a caller maps errors simply: resilience.RetryAfter(err) reports true
// (and a wait) for everything that means "upstream unavailable" → 503 with
// Retry-After; a returned response is an answer to pass on or interpret.
// The response body must be closed (or read to EOF): that frees the attempt's
// bulkhead slot and context.
//
// The Transport also sets traceparent from the request context, so no
// observability.Transport is needed around it.
//
// # Time
//
// Waits (backoff, Retry-After), the budget window, the token cache TTLs, the
// breaker's open period (open -> half-open) and its Retry-After hints run on
// Config.Clock (resilience/clocktest has a fake). Context deadlines run on
// real time because the network enforces them. gobreaker v2.4.0 reads
// time.Now itself, so it only counts the closed state's rolling window
// (BreakerWindow, on real time); it is given an open period it never
// reaches, and the breaker leaves the open state on Clock (breaker.go).
//
// # Token cache
//
// TokenCache is an auth.Validator in front of the user service. Entries are
// keyed by the SHA-256 of the token, bounded (LRU) and never served past
// min(TTL, the token's exp). Concurrent misses for one token share one Fetch
// (singleflight), detached from the cancellation of the caller that started
// it. Invalid tokens are remembered for NegativeTTL (5s). When Fetch fails
// for any reason other than auth.ErrInvalidToken, a cached answer is still
// served until its TTL ends (a "stale hit" once past RefreshAfter), and a
// token never seen gets an error wrapping auth.ErrUnavailable: the service
// answers 503 with Retry-After, not 401, because the token may well be good.
//
//	Validate ─► cache (fresh) ─► answer
//	          └► singleflight Fetch ─► ok / invalid: store, answer
//	                                └► unavailable: cached within TTL? serve : ErrUnavailable
//
// # Observability
//
// Metrics (NewMetrics, one per service registry) and ECS log events
// (breaker.state_change, breaker.rejected, retry.attempt,
// retry.budget_exhausted, bulkhead.rejected, upstream.call at debug for
// successes and warn for failures, token_cache.stale_hit,
// token_cache.unavailable) are named in docs/CONTRACTS.md. Log lines carry
// trace.id from the request context; no token is ever logged.
//
// Transport, Metrics and TokenCache are safe for concurrent use.
package resilience
