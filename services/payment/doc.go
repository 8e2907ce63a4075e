// Package payment charges orders exactly once per Idempotency-Key.
//
//	order ──► POST /payments (X-Service-Key, Idempotency-Key)
//	          Store.Begin: INSERT processing row, UNIQUE(idem_key), one transaction
//	            ├─ key new        ──► processor ──► Store.Complete (status + body) ──► answer
//	            ├─ key done       ──► replay the stored status and body
//	            ├─ key in flight  ──► 409
//	            └─ other body     ──► 422
//	gateway ──► GET /payments/:id (bearer token: owner or admin, else 404)
//	order   ──► GET /internal/payments?order_id=   (reconciliation)
//	tests   ──► GET /internal/charges/summary      (exactly-once invariant)
//
// The processor is deterministic: amounts above Config.DeclineAbove cents
// are declined with 402, so the failure path is testable. A row stuck in
// processing (a crash between Begin and Complete) is taken over by the
// next request with the same key: at once when the row predates this
// process (its owner crashed; the store belongs to one process), else after
// Config.ProcessingTimeout.
//
// Service and Client are safe for concurrent use.
package payment
