// Package crash holds the crash-safety test: the five services run as
// separate faultlab processes on one data dir, load creates orders through
// the gateway, and payment and then order are killed with SIGKILL and
// restarted on the same port and data dir while the load goes on.
//
//	load ─► gateway ─► order ─► product
//	                     └────► payment     (SIGKILL, restart)
//	                  order                  (SIGKILL, restart, Reconcile)
//
// Afterwards every acknowledged order must exist in a final state, no order
// may be charged twice, no confirmed order may lack a charge, no failed
// order may keep one, and stock must add up. The package has no code of
// its own; it needs `go build` and is skipped under -short.
package crash
