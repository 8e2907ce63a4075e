// Package soak runs a long chaos soak: an in-process lab under steady
// open-loop load while faults rotate over every hop, then checks the
// invariants that no amount of chaos may break.
//
//	plan (seeded) ──► toxics on 1–3 hops at once, 503s on the saga's internal
//	                  routes (reservations, commit/release, charges), 503
//	                  bursts on services
//	load ──────────► gateway ──► services  (one-shot and retrying orders,
//	                                        every attempt recorded: history)
//	after: clear faults ─► every acknowledged order exists and settles
//	                     ─► no order charged twice, stock adds up
//	                     ─► history check: the clients' answers agree with
//	                        the stores (chaos/history), 0 anomalies
//	close the lab       ─► goroutines and heap back near the baseline
//
// The schedule is a pure function of the seed (Plan), so a failing run can
// be replayed.
package soak
