// Package shop assembles one service of the lab with everything around it:
// resilience clients for each upstream, the token cache, the HTTP fault
// injector and its control endpoint, the deadline middleware and the logs.
// `faultlab serve` builds one Unit; the in-process lab (chaos/lab) builds
// five and points their upstream URLs at Toxiproxy.
//
// It is the wiring layer: it imports the five services and chaos/fault, so
// it sits above them and below cmd and the chaos harnesses (it used to be
// internal/app; see docs/ARCHITECTURE.md). Nothing under internal/ may
// import it.
//
//	inbound:  observability ─► fault.Middleware ─► resilience.Deadline ─► auth ─► handler
//	outbound: handler ─► resilience.Transport(name) ─► traceparent ─► wire
//
// A Unit is safe for concurrent use once built.
package shop
