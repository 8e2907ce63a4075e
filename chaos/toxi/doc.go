// Package toxi embeds a Toxiproxy v2 server in the process and puts small,
// typed, JSON-serialisable faults on top of its client.
//
//	caller ──► hop proxy (127.0.0.1:2100x) ──toxics──► upstream service
//	                 ▲
//	Apply/Remove ──► Toxiproxy API (Server.URL)
//
// Start runs the Toxiproxy API on a listener of our own (so "127.0.0.1:0"
// works and Start returns only once the API answers). CreateHops makes one
// proxy per Hop. A Toxic names its hop and its kind (latency, timeout, down,
// reset_peer, slicer, bandwidth, slow_close); Apply adds it, Remove takes it
// away, Reset removes every toxic and re-enables every proxy.
//
// Toxiproxy logs with zerolog; its lines are re-emitted at debug level on the
// configured slog.Logger, or dropped when there is none.
//
// Server and Toxic values are safe for concurrent use; the Toxiproxy client
// is too (it holds only an http.Client).
package toxi
