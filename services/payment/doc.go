// Package payment charges orders exactly once per Idempotency-Key.
//
//	order ──► POST /payments (X-Service-Key, Idempotency-Key)
//	          Store.Begin: INSERT processing row, UNIQUE(idem_key), one transaction
//	            ├─ key new        ──► processor ──► Store.Complete (status + body) ──► answer
//	            ├─ key done       ──► replay the stored status and body
//	            ├─ key in flight  ──► 409 (claimed by a request of this process)
//	            └─ other body     ──► 422
//	gateway ──► GET /payments/:id (bearer token: owner or admin, else 404)
//	order   ──► GET /internal/payments?order_id=   (reconciliation)
//	tests   ──► GET /internal/charges/summary      (exactly-once invariant)
//
// The processor is deterministic: amounts above Config.DeclineAbove cents
// are declined with 402, so the failure path is testable. While a request
// charges a key, this process holds a claim on it, and another request
// with the key gets 409. A row stuck in processing with no claim (its
// process died between Begin and Complete) is taken over by the next
// request with its key, at once. That rests on the store belonging to one
// payment process: two processes sharing a data dir could take over each
// other's live charges, so run one per store.
//
// Service and Client are safe for concurrent use.
package payment
