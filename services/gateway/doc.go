// Package gateway is the lab's only public part: it routes the public API
// to the services, proves itself to them with X-Gateway-Key, and serves the
// last-known-good catalogue when product is down.
//
//	client ──► edge: every contract.Internal header deleted (budget,
//	           dependency, load-shed, keys, forwarded address);
//	           Request-Timeout (seconds, ≥ 100 ms) ──► the request's deadline
//	       ──► deadline middleware (30 s cap) ──► the budget sent upstream
//	       ──► guard (dot segments, encoded slashes, double encoding,
//	           any /internal path ──► 404)
//	       ──► route ──► forward: bounded body, allowed headers only
//	                     (Authorization, Idempotency-Key, Content-Type, Accept),
//	                     X-Gateway-Key, X-Forwarded-For, traceparent
//	       ──► upstream ──► answer passed through (status, body, Location,
//	                        Link, Retry-After, …)
//	catalogue GETs: 200 ──► remembered (bounded LRU by path+query)
//	                unavailable ──► remembered copy with X-Cache-Status: stale
//
// The gateway does not validate tokens itself: the services do, through
// their validators. No client-sent internal header is ever read or
// forwarded: the gateway sets X-Gateway-Key, X-Forwarded-For and (through
// its resilience clients) X-Request-Budget-Ms itself. Upstream answers pass
// through with their status, 429 and shed 503 included, with Retry-After.
// A deadline the client chose that runs out is a 504 that says so.
// Service is safe for concurrent use.
package gateway
