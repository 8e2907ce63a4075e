// Package server runs an http.Server until its context ends, then shuts it
// down gracefully. Every binary and test harness in the lab uses it, so all
// servers share the same timeouts (ReadHeaderTimeout against slow headers,
// a cap on header size) and the same shutdown path.
package server
