// Package sagasim is a seeded, reproducible randomized test of the order
// saga (issue 10). It holds no code outside its tests.
//
//	workers (seeded) ──POST /orders, replays──► order Service (generation n)
//	   │  creates, replays, reconciler passes,           │ fault-injecting RoundTrippers:
//	   │  clock jumps, crashes, outages                  │ drop request, drop response,
//	   ▼                                                 │ 503, 400 refusal, outage
//	history.Recorder                                     ▼
//	   │                            product, payment (real handlers, SQLite)
//	   │  quiesce: faults off, clock past the leases, reconciler passes
//	   ▼
//	history.Check(ops, snapshot) ──► 0 anomalies, or the seed to reproduce
//
// The real order service runs on a real SQLite store against the real
// product and payment handlers, in process; the clock is injected and
// moved by the test. A crash discards the order Service (its outbound
// calls fail from then on, though its in-flight requests may still write,
// like a paused process) and builds a new one on the same store. Every
// operation draws its faults from its own seeded generator, so a seed
// replays the same operations and faults; with -sagasim.workers=1 it
// replays the same interleaving too.
//
//	go test ./chaos/sagasim                                 # the CI run
//	go test ./chaos/sagasim -sagasim.seed=42 -sagasim.rounds=1 -sagasim.workers=1 -v
//	SAGASIM_SEED=42 go test ./chaos/sagasim
package sagasim
