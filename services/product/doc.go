// Package product is the catalogue and the stock keeper.
//
//	gateway ──► GET  /products, /products/:id      (public catalogue, caller key)
//	        ──► POST /products                      (admin token, via Config.Tokens.Validator)
//	order   ──► POST /internal/reservations         {id, items} all or nothing, until now + TTL
//	        ──► POST /internal/reservations/:id/release | /commit
//	tests   ──► GET  /internal/stock                invariant summary
//	        ──► GET  /internal/reservations?state=  reservations with expires_at
//
//	reserved ──commit──► committed
//	    │ ╲──release──► released
//	    └─TTL (Sweep)─► expired ──commit / reserve again──► committed / reserved
//	                            (if the stock is still available, else 409)
//
// Stock of each product is split into available, reserved and sold, and
// initial = available + reserved + sold holds after every transaction (the
// SQLite schema has a CHECK for it). A reservation is keyed by its id, so
// order can retry any of the three calls: reserve answers the same
// reservation again (201 the first time, 200 after) and renews its expiry,
// and release and commit are no-ops when already done. A released
// reservation cannot be committed and a committed one cannot be released
// (409).
//
// Product owns the safety of its stock: a reservation holds stock for
// Config.ReservationTTL (10 min) unless renewed, and Sweep (run by the app
// wiring every few seconds, and again before a reservation is refused for
// want of stock) gives the stock of expired ones back. A commit after expiry takes the stock again
// if it is still available, else it is refused with 409: stock is never
// sold twice.
//
// Service and Client are safe for concurrent use.
//
// The Store has two implementations: SQLite (store.go, the default, in
// DataDir) and PostgreSQL (pgstore.go, schema "product", migrations in
// migrations/*.sql, chosen by Config.Store from OpenPGStore); storetest is
// the conformance suite both pass.
package product
