// Package soak runs a long chaos soak: an in-process lab under steady
// open-loop load while faults rotate over every hop, then checks the
// invariants that no amount of chaos may break.
//
//	plan (seeded) ──► toxics on 1–2 hops at a time, 503 bursts on services
//	load ──────────► gateway ──► services          (orders acknowledged: 201)
//	after: clear faults ─► every acknowledged order exists and settles
//	                     ─► no order charged twice, stock adds up
//	close the lab       ─► goroutines and heap back near the baseline
//
// The schedule is a pure function of the seed (Plan), so a failing run can
// be replayed.
package soak
