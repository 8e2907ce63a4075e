// Package gateway is the lab's only public part: it routes the public API
// to the services, proves itself to them with X-Gateway-Key, and serves the
// last-known-good catalogue when product is down.
//
//	client ──► guard (dot segments, encoded slashes, double encoding,
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
// their validators. Client-sent X-Gateway-Key and X-Service-Key are never
// forwarded. Service is safe for concurrent use.
package gateway
