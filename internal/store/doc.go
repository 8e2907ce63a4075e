// Package store opens the services' databases: embedded SQLite (the
// default) or a shared PostgreSQL, with the settings every service needs,
// and runs their schema migrations.
//
//	service ──► its Store interface ──► sqlite implementation ──► *sql.DB (Open, Migrate, Tx)
//	                                 └─► postgres implementation ──► *pgxpool.Pool (OpenPG, PGTx)
//
// Each service defines its own Store interface next to its handlers and
// implements it twice (store.go, pgstore.go); one conformance suite per
// interface (services/<svc>/storetest) runs against both.
//
// SQLite (modernc.org/sqlite, driver "sqlite", no cgo):
//
//   - a file DataDir/<name>.db in WAL mode with busy_timeout and foreign keys,
//     or a private in-memory database when the directory is empty;
//   - one connection, so writes are serialised by database/sql itself and a
//     transaction never meets SQLITE_BUSY. Several processes may share the
//     file on one host (busy_timeout, BEGIN IMMEDIATE).
//
// PostgreSQL (jackc/pgx v5, OpenPG):
//
//   - one database for all services, one schema per service (search_path);
//     no service reads another's tables;
//   - migrations are the service's embedded migrations/*.sql, applied in
//     name order at start, each recorded in <schema>.schema_migrations,
//     under an advisory lock so that replicas starting together migrate
//     once;
//   - isolation: READ COMMITTED everywhere. The guarantees sit in single
//     statements that PostgreSQL re-checks on a row's newest version after
//     waiting for a concurrent writer (INSERT … ON CONFLICT on a unique
//     key; UPDATE … WHERE status/version/lease), in row locks taken in a
//     fixed order (stock: product id order), and in FOR UPDATE SKIP LOCKED
//     where replicas take work (order claims, the reservation sweep).
//     PGTx re-runs a transaction that PostgreSQL aborted as a deadlock
//     victim or a serialization failure. Reads that must be one snapshot
//     (an order history page, the reservation list) use a read-only
//     REPEATABLE READ transaction;
//   - an error that means the database is out of reach wraps
//     ErrUnavailable, a 503 problem with Retry-After, so handlers answer
//     503 and the client comes back.
//
// A *sql.DB and a *pgxpool.Pool are safe for concurrent use.
package store
