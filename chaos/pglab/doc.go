// Package pglab holds the tests that run the in-process lab (chaos/lab) on
// PostgreSQL instead of SQLite: every store in one database of a real
// PostgreSQL 15 (internal/store/pgtest), each service in its own schema.
//
//	lab.Start(DatabaseURL) ──► user, product, order, payment ──► PostgreSQL (pgtest)
//
// The package has no code of its own: its tests are the point. They check
// that state lives in the database (a second lab on the same database sees
// it) and that the services survive the database going away (503 with
// Retry-After, nothing lost, recovery when it returns).
package pglab
