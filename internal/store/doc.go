// Package store opens the embedded SQLite databases of the services
// (modernc.org/sqlite, driver "sqlite", no cgo) with the settings every one
// of them needs, and runs their schema migrations.
//
//	service ──► its Store interface ──► sqlite implementation ──► *sql.DB (Open)
//
// Each service defines its own Store interface next to its handlers, so a
// PostgreSQL implementation can be added later without touching them; this
// package only knows how to open SQLite well:
//
//   - a file DataDir/<name>.db in WAL mode with busy_timeout and foreign keys,
//     or a private in-memory database when the directory is empty;
//   - one connection, so writes are serialised by database/sql itself and a
//     transaction never meets SQLITE_BUSY. The lab's load is small; a
//     production store would split a read pool from a single writer.
//
// A *sql.DB is safe for concurrent use.
package store
