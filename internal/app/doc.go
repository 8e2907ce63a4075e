// Package app assembles one service of the lab with everything around it:
// resilience clients for each upstream, the token cache, the HTTP fault
// injector and its control endpoint, the deadline middleware and the logs.
// `faultlab serve` builds one Unit; the in-process lab (chaos/lab) builds
// five and points their upstream URLs at Toxiproxy.
//
//	inbound:  observability ─► fault.Middleware ─► resilience.Deadline ─► auth ─► handler
//	outbound: handler ─► resilience.Transport(name) ─► traceparent ─► wire
//
// A Unit is safe for concurrent use once built.
package app
