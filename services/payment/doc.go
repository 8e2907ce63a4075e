// Package payment charges orders exactly once per Idempotency-Key.
//
//	order ──► POST /payments (X-Service-Key, Idempotency-Key)
//	          Store.Begin: INSERT processing row claimed until now + LeaseTTL,
//	                       UNIQUE(idem_key), one transaction
//	            ├─ key new            ──► processor ──► Store.Complete (status + body) ──► answer
//	            ├─ key done           ──► replay the stored status and body
//	            ├─ key in flight      ──► 409 (its claim has not expired)
//	            ├─ claim expired      ──► Store.TakeOver (one winner) ──► processor ──► answer
//	            └─ other body         ──► 422
//	gateway ──► GET /payments/:id (bearer token: owner or admin, else 404)
//	order   ──► GET /internal/payments?order_id=   (reconciliation)
//	tests   ──► GET /internal/charges/summary      (exactly-once invariant)
//	        ──► GET /internal/charges?after=&limit= every payment, by id
//
// The processor is deterministic: amounts above Config.DeclineAbove cents
// are declined with 402, so the failure path is testable; a request that
// no retry can fix (an amount above MaxAmount, a bad currency) is 400.
// The claim on a charge in flight lives in the store, as a lease on its
// processing row (Config.LeaseTTL, 5 s, on the injected clock), so
// exactly-once holds when several payment processes share one store: a
// row still processing after its lease was left by a process that died
// between Begin and Complete, and the next request with its key takes it
// over (a conditional UPDATE, so one of several wins).
//
// Service and Client are safe for concurrent use.
//
// The Store has two implementations: SQLite (store.go, the default, in
// DataDir) and PostgreSQL (pgstore.go, schema "payment", migrations in
// migrations/*.sql, chosen by Config.Store from OpenPGStore); storetest is
// the conformance suite both pass.
package payment
