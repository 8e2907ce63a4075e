// Package order turns a basket into a paid order without ever charging
// twice or leaving stock held by a dead order.
//
//	POST /orders (bearer token, Idempotency-Key)
//	  Store.Begin: pending row, UNIQUE(user, key)      replay ──► stored answer
//	  product.Reserve(<order>-<attempt>, items)        409/422 ──► failed
//	  payment.Charge(key "order-<order id>", total)    402 ──► release, failed
//	                                                   unavailable ──► release, failed (retryable), 503
//	  product.Commit(reservation)                      unavailable ──► stays pending, 503
//	  Store.Save: confirmed + stored 201 answer
//
// The payment key is derived from the order id, so every run of one order
// (a client retry, a replay after a retryable failure, Reconcile after a
// crash) asks payment for the same charge and payment answers at most one.
// A replay of a key whose run failed only because an upstream was
// unavailable runs the same order again (a new attempt with a fresh
// reservation); any other finished run is answered from the store with the
// same status and body. A replay while the order's run is in progress in
// this process is 409.
//
// Reconcile finishes orders left pending by a crash or a lost commit: it
// asks payment for the order's charge; charged ──► commit stock, confirm;
// declined or no charge ──► release stock, fail.
//
// Service and Client are safe for concurrent use.
package order
