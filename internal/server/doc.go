// Package server runs an http.Server until its context ends, then shuts it
// down gracefully. Every binary and test harness in the lab uses it, so all
// servers share the same timeouts (ReadHeaderTimeout against slow headers,
// a cap on header size), the same framing rule (a request with a
// Transfer-Encoding closes its connection: RFC 9112 §6.1 against request
// smuggling with Content-Length + Transfer-Encoding) and the same shutdown
// path.
//
//	conn ──► http.Server (timeouts, header cap) ──► Framing ──► handler
package server
