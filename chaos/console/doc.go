// Package console serves the live lab console of `faultlab up`: one page
// that shows the topology, the faults, the breakers and the traffic of a
// running lab, and lets its user add and remove faults and run scenarios.
//
//	every Every (on Clock) ──► scrape: each endpoint's /metrics,
//	                           Toxiproxy's proxies and toxics,
//	                           each service's /internal/faults
//	                              │ rates from the counters' deltas
//	                              ▼
//	                           State ──► GET /api/state (JSON)
//	                                 └─► GET /api/events (Server-Sent Events) ──► the page (web/)
//	page ──► POST/DELETE /api/toxics, /api/faults, POST /api/runs ──► Lab (Toxiproxy, fault API, chaos.Run)
//
// What the page shows, and where each number comes from:
//
//   - the services, with one box per endpoint (a service with several
//     replicas has several), and the hops from topology;
//   - each hop's toxics (a disabled proxy is the pseudo-toxic "down"), from
//     Toxiproxy's API; each service's HTTP faults, from its fault API;
//   - each breaker's state, from faultlab_circuitbreaker_state on the
//     caller's /metrics (the worst over the caller's endpoints);
//   - requests/s and error rate per hop, from the caller's
//     faultlab_client_requests_total{name=<callee>} (error: outcome failure
//     or rejected), and p99 per hop from the caller's
//     faultlab_client_request_duration_seconds (every attempt included);
//   - requests/s, error rate (5xx) and p99 per route of every service, from
//     faultlab_http_requests_total and faultlab_http_request_duration_seconds.
//
// Rates are the difference between two scrapes over the time between them
// on the injected Clock, so a test moves them by advancing a fake clock. A
// p99 is estimated from the histogram buckets' deltas as Prometheus'
// histogram_quantile does, and is "—" when nothing was observed.
//
// Cost: a scrape has every service gather its registry. That takes a few
// milliseconds, but about 100 ms under the race detector, where scraping
// much faster than the default second slows the lab down enough to fail a
// scenario's steady state.
//
// Safety: the console can break the lab, so its mutating endpoints demand
// the per-process token the page embeds (header X-Console-Token, compared in
// constant time) and refuse cross-site requests (Origin, Sec-Fetch-Site);
// every request must name a loopback Host, which stops DNS rebinding. Every
// bad input is answered with RFC 9457 problem+json.
//
// A scenario started from the page runs chaos.Run against the Lab; like
// `faultlab chaos run`, it resets every fault when it starts and ends. One
// runs at a time.
//
// Server is safe for concurrent use.
package console
