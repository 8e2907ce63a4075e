package contract

import "net/http"

// Header names (docs/CONTRACTS.md).
const (
	// GatewayKey carries the gateway's secret on every call it forwards.
	GatewayKey = "X-Gateway-Key"
	// ServiceKey carries the shared service secret on calls between services.
	ServiceKey = "X-Service-Key"
	// RequestBudget carries the caller's remaining deadline in milliseconds.
	RequestBudget = "X-Request-Budget-Ms"
	// DependencyUnavailable, on a 503, names the callee's own upstream that
	// is unavailable: the callee is up and answered for itself.
	DependencyUnavailable = "X-Dependency-Unavailable"
	// LoadShed, on a 503, says the callee refused the request to protect
	// itself (e.g. user's password-hashing bound is full): it is healthy and
	// busy, not failing. Resilience clients neither retry such an answer nor
	// count it against the callee's breaker.
	LoadShed = "X-Load-Shed"
	// ForwardedFor carries the client address the gateway saw; services
	// trust it only on a request with the valid gateway key.
	ForwardedFor = "X-Forwarded-For"
	// RequestTimeout is the public way for a client to ask the gateway for
	// a shorter deadline than its own, in seconds (decimals allowed).
	RequestTimeout = "Request-Timeout"
)

// Internal lists the headers that only the lab sets: the gateway deletes
// each of them from every client request before anything reads it, and
// sets the ones it owns itself. docs/CONTRACTS.md lists the same names (a
// test in deploy checks that).
var Internal = []string{
	GatewayKey,
	ServiceKey,
	RequestBudget,
	DependencyUnavailable,
	LoadShed,
	ForwardedFor,
	"Forwarded",
	"X-Real-Ip",
}

// StripInternal deletes every Internal header from h.
func StripInternal(h http.Header) {
	for _, name := range Internal {
		h.Del(name)
	}
}
