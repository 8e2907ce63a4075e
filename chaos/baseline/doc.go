// Package baseline measures what the gateway costs: the same request,
// GET /api/v1/products with a valid bearer token, sent once through the
// gateway with all its policies and once through a plain
// httputil.ReverseProxy that only rewrites the path and adds the gateway
// key, both calling the same product service directly.
//
//	load ──► gateway (auth, guard, breaker, retry, cache…) ──┐
//	                                                         ├──► product
//	load ──► httputil.ReverseProxy (path + X-Gateway-Key) ───┘
//
// Compare runs a closed-loop (max rps) and an open-loop (fixed rate) run
// against each, one after the other, and reports both.
package baseline
