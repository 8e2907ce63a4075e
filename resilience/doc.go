// Package resilience is the client side of every call between services,
// plus the two server-side pieces that belong to it (the Deadline middleware
// and the TokenCache).
//
// # Composition
//
// New(Config) returns a *Transport, an http.RoundTripper for one upstream.
// Each policy is a method of its own file that wraps the next step
// (func(step) step, call.go) and returns it unchanged when it is off;
// Transport.compose (transport.go) stacks them in this order, outermost
// first, so adding a policy is adding its file and one line there:
//
//	caller ctx
//	  │
//	  ▼
//	(1) deadline   caller's ctx deadline, clipped by Policy.Timeout; no time left
//	  │            → ErrDeadline, no network call                  deadline.go
//	  ▼
//	(2) retries    idempotent methods (GET HEAD OPTIONS PUT DELETE) or an
//	  │            Idempotency-Key; on connection errors, attempt timeouts,
//	  │            502 503 504 (never 429); full-jitter exponential backoff
//	  │            (cenkalti/backoff/v4) or the upstream's Retry-After
//	  │            (≤ MaxRetryAfter, else give up); waits on Clock  retry.go
//	  ▼
//	(3) budget     per upstream: retries + hedges ≤ BudgetRatio × calls +
//	  │            BudgetMinRetries in a sliding BudgetWindow → else
//	  │            ErrBudgetExhausted (a refused hedge is just not sent)  budget.go
//	  ▼
//	(4) hedging    GET/HEAD (or, with HedgePosts, an Idempotency-Key) to an
//	  │            upstream with ≥ 2 endpoints: no answer after the hedge
//	  │            delay → a copy to another endpoint; first answer < 500
//	  │            wins, the other is cancelled                    hedge.go
//	  ▼
//	(5) breaker    per upstream, per ATTEMPT (sony/gobreaker/v2): open → *OpenError
//	  │            (ErrOpen, RetryAfter = rest of the open interval), no network call
//	  │                                                            breaker.go
//	  ▼
//	(6) endpoint   with Config.Endpoints/Resolve: p2c least-request (or
//	  │            round-robin) over the endpoints in service, not those this
//	  │            call already tried; the answer feeds the outlier
//	  │            detector, which ejects a failing endpoint   balancer.go outlier.go
//	  ▼
//	(7) attempt    context deadline min(call deadline, AttemptTimeout); the rest
//	  │  timeout   is sent downstream in X-Request-Budget-Ms       timeout.go
//	  ▼
//	(8) bulkhead   per upstream, MaxConcurrent attempts in flight; full → ErrBulkheadFull
//	  │            at once, never queued                           bulkhead.go
//	  ▼
//	wire           Config.Base; classifies the answer (the table below)  wire.go
//	                                upstream: Deadline middleware sets its ctx
//	                                from X-Request-Budget-Ms
//
// The breaker sees attempts, not logical calls, so that retries feed its
// failure rate and a retry storm trips it sooner; the budget (3) bounds how
// much retries and hedges can amplify load on a failing upstream
// (≈ 1 + BudgetRatio), whatever MaxAttempts says. A bulkhead rejection ends
// the call at once: it is local back-pressure, not upstream failure.
//
// # Endpoints
//
// Without Config.Endpoints and Config.Resolve, a request goes where its URL
// says and (4) and (6) are off: one endpoint, as before. With them, the
// caller builds URLs on any base (the upstream's name will do) and every
// attempt's scheme and host are replaced by its endpoint's:
//
//	resilience.New(resilience.Config{Name: "payment", Endpoints: []string{
//		"http://127.0.0.1:8083", "http://127.0.0.1:18083", "http://127.0.0.1:28083"}})
//	resolve, _ := resilience.ResolveDNS(nil, "http://tasks.payment:8083")
//	resilience.New(resilience.Config{Name: "payment", Resolve: resolve})
//
// Resolve runs at the first call, then in the background every
// ResolveEvery on Clock; a failure keeps the last set (endpoint.resolve_failed).
// Endpoints that stay keep their outlier state. Transport.Endpoints reports
// the set, Transport.Refresh resolves at once.
//
// The balancer draws two endpoints and takes the one with fewer attempts in
// flight (power of two choices), among, in order of preference: endpoints in
// service that the call has not tried (Envoy's previous-hosts predicate, so
// a retry or a hedge goes elsewhere); endpoints in service; any endpoint.
//
// The outlier detector (outlier.go) ejects an endpoint after
// OutlierConsecutive5xx failures (any 5xx, timeout, connection error) or
// OutlierConsecutiveGateway gateway failures (502 503 504, timeout,
// connection error) in a row, for OutlierBaseEjection × its ejections (≤
// OutlierMaxEjection); with OutlierSuccessStdev, also an endpoint whose
// success rate over OutlierInterval is that many standard deviations below
// the mean. At most OutlierMaxPercent of the endpoints are out, but one
// always may be; a set of one is never ejected. The breaker (5) is above the
// endpoints: it opens when the upstream as a whole fails, not when one
// replica does, since retries go to the others and the detector takes the
// failing one out.
//
// # What counts as what
//
//	attempt result                 breaker    outlier   retried   caller gets
//	2xx 3xx                        success    success   no        the response
//	4xx (not 429)                  excluded   success   no        the response (pass it through)
//	429                            excluded   success   no        the response, Retry-After and problem
//	                                                              body intact (pass it through)
//	503 + X-Dependency-Unavailable excluded   success   no        the response: the callee is up and
//	                                                              answered for its own upstream
//	503 + X-Load-Shed              excluded   success   no        the response: the callee is up and
//	                                                              shed the request to protect itself
//	500, 501, 505...               failure    5xx       no        the response
//	502 503 504                    failure    gateway   yes*      *UpstreamError (ErrUpstream, Status,
//	                                                              the last problem+json body)
//	connection error, timeout      failure    gateway   yes*      *UpstreamError (ErrUpstream)
//	caller's ctx cancelled/expired excluded   ignored   never     ErrDeadline / context.Canceled
//	hedge that lost (cancelled)    excluded   ignored   no        (the winner's answer)
//	bulkhead full                  excluded   ignored   no        ErrBulkheadFull
//	no endpoint (Resolve empty)    excluded   -         no        *UpstreamError (ErrNoEndpoints)
//	  * if the request is retryable, attempts and budget remain, and a
//	    Retry-After is no longer than MaxRetryAfter. A hedged attempt that
//	    fails while its twin is in flight waits for the twin.
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
// resilience.MayHaveReached(err) reports whether the upstream may have acted
// on the request without the caller seeing the answer (an attempt sent and
// never answered), so that a caller about to give up on a charge asks
// first; resilience.Interrupted(err) whether an error (such as one reading
// a body) is the network failing. No caller lists error types itself.
// The response body must be closed (or read to EOF): that frees the
// attempt's bulkhead slot, context and endpoint.
//
// The Transport also sets traceparent from the request context, so no
// observability.Transport is needed around it.
//
// # Time
//
// Waits (backoff, Retry-After, the hedge delay), the budget window, the
// token cache TTLs, the breaker's open period (open -> half-open) and its
// Retry-After hints, ejection times, the success-rate interval and the
// resolver's period run on Config.Clock (resilience/clocktest has a fake). Context deadlines run on
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
// retry.budget_exhausted, bulkhead.rejected, endpoint.ejected,
// endpoint.returned, endpoint.resolve_failed, upstream.call at debug for
// successes and warn for failures, token_cache.stale_hit,
// token_cache.unavailable) are named in docs/CONTRACTS.md. Log lines carry
// trace.id from the request context; no token is ever logged.
//
// Transport, Metrics and TokenCache are safe for concurrent use.
package resilience
