// Package order turns a basket into a paid order without ever charging
// twice, selling stock twice, or leaving stock held by a dead order.
//
//	POST /orders (bearer token, one Idempotency-Key)
//	  Store.Begin: pending row, UNIQUE(user, key), leased to this run
//	  replay: Store.Claim the lease (held by another run ──► 409), re-read
//	    confirmed/failed ──► the stored answer
//	    interrupted      ──► pending, attempt+1, run again
//	    pending          ──► drive on from where the last run stopped
//	  product.Reserve(<order>-<attempt>, items)   409/422/400 ──► failed
//	  Transition: priced (unit prices, total, currency)
//	  extend the lease; payment.Charge(key "order-<order id>", total)
//	                           402 ──► failed, release queued
//	                           400/422 ──► failed payment_refused, 422 to the client
//	                           unavailable ──► interrupted, release queued, 503
//	                           answer lost ──► stays pending (stock held)
//	  Transition: paid (payment id) ── from here it can only end confirmed
//	  product.Commit(reservation)  unavailable ──► stays pending, 503
//	  Transition: confirmed + the stored 201 answer
//
// Every Transition is a conditional write: the status and version the run
// read, and its unexpired lease. It bumps the version and appends an
// order_events row in the same transaction; a run whose write loses
// re-reads and never overwrites. Confirmed and failed are final: the
// store's UPDATE refuses to leave them. Interrupted is not: a replay of the
// key runs the order again, as a new attempt with a fresh reservation.
// The payment key is derived from the order id, so every run and every
// attempt of one order asks payment for the same charge.
//
// A release decided by a transition is queued (order_outbox) in that same
// write, tried at once, and retried by every reconciler pass until it
// lands. "No such reservation" counts as landed only a lease term after
// the release was queued, so a reserve whose answer was lost and that
// lands late is released too. Product also expires reservations itself
// after their TTL (10 min); a repeated reserve of an id renews it, and
// a commit after expiry takes the stock again if it is still there.
//
// Reconcile (every few seconds) drains the outbox, then claims each
// pending order whose lease has run out, re-reads it under the claim and
// drives it on: paid ──► commit, confirm; priced ──► ask payment
// (charged ──► record it, commit, confirm; declined ──► fail; processing
// ──► ask payment to finish it, below; unanswered ──► wait); else reserve
// (renewing) and charge with the order's key. It never interrupts an order: a run that took an order over
// from another cannot know that the other's calls will not still land, so
// it drives the order to an answer from the upstreams instead.
// A pass stops at the first call an open circuit breaker refuses: the
// orders and charge checks after it wait for the next pass, instead of
// each being refused in turn.
//
// Known edge, documented rather than hidden: an order that was paid while
// product stayed down longer than the reservation TTL, and whose stock
// was sold to others meanwhile, cannot be committed (product answers 409).
// It stays pending, logged as order.commit_pending at error level, and
// the history checker reports it; settling it needs a refund, which
// payment does not offer yet. The same holds for a charge adopted after
// an interruption (below) whose products sold out meanwhile.
//
// An attempt interrupted while its charge was under way queues a
// verify_charge: a retried charge call may have landed on an earlier
// attempt although its last attempt was refused. Every reconciler pass
// asks payment, for a lease term; a charge found is adopted (the order
// runs again as a new attempt: reserve, payment replays the charge,
// commit, confirm), so money is not kept without goods. This rests on
// the calls' timeouts being shorter than the lease term (10 s; order
// waits at most 2 s for payment).
//
// A charge that payment has as processing is finished only when its key
// is asked again: the request that began it may have died between
// payment's Begin and Complete (payment killed), leaving its claim to run
// out. So the reconciler, for a pending order and for a verify_charge
// alike, sends the charge again with the order's key and the charge's own
// request (amount, currency): 409 while the claim lasts (ask again next
// pass), else payment takes the claim over and completes it, and the order
// goes on from the answer. Waiting instead left the order pending and the
// charge processing for good (issue 13's crash test on PostgreSQL).
//
// Service and Client are safe for concurrent use; several order processes
// may share one store.
//
// The Store has two implementations: SQLite (store.go, the default, in
// DataDir) and PostgreSQL (pgstore.go, schema "order_svc", migrations in
// migrations/*.sql, chosen by Config.Store from OpenPGStore); storetest is
// the conformance suite both pass.
package order
