// Package product is the catalogue and the stock keeper.
//
//	gateway ──► GET  /products, /products/:id      (public catalogue, caller key)
//	        ──► POST /products                      (admin token, via Config.Validator)
//	order   ──► POST /internal/reservations         {id, items} all or nothing
//	        ──► POST /internal/reservations/:id/release | /commit
//	tests   ──► GET  /internal/stock                invariant summary
//
// Stock of each product is split into available, reserved and sold, and
// initial = available + reserved + sold holds after every transaction (the
// SQLite schema has a CHECK for it). A reservation is keyed by its id, so
// order can retry any of the three calls: reserve answers the same
// reservation again (201 the first time, 200 after), and release and commit
// are no-ops when already done. A released reservation cannot be committed
// and a committed one cannot be released (409).
//
// Service and Client are safe for concurrent use.
package product
