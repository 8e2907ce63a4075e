// Package kit is the common frame of the five services: it assembles one
// service's inbound handler, answers health and readiness, builds requests
// to upstream services, and maps upstream failures to problem+json.
//
//	request ──► observability.Middleware (trace, RED metrics, access log)
//	        ──► Options.Wrap (chaos faults, deadlines: anything the wiring adds)
//	        ──► router ──► /healthz, /readyz, /metrics (open)
//	                   └─► service routes (RequireCaller / RequireService, Authenticate)
//
// Outbound, a service never builds an http.Client of its own: it receives
// one per upstream in its Config. DefaultClient is the single fallback for a
// zero Config (tests), so a reader can find every plain client in one place.
//
//	typed client ──► NewRequest (JSON body, traceparent, keys) ──► *http.Client
//	             ◄── Do: 2xx decoded, otherwise *StatusError or transport error
//	handler      ◄── UpstreamProblem(err): unavailable ──► 503 + Retry-After
//
// Everything here is safe for concurrent use once built.
package kit
