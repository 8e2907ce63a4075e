// Package httpclient builds the wire-level HTTP transport every outbound call
// in the lab sits on, and the plain client that command-line tools use to
// talk to a lab from outside (health checks, fault control, load).
//
// Calls between services never use Plain: they go through a resilience
// client whose Base is NewTransport(). The bypass check in resilience
// enforces that for services/ and cmd/.
package httpclient
