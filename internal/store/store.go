package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned by stores for a missing row.
var ErrNotFound = errors.New("not found")

// Open opens DataDir/<name>.db, creating the directory (0700) if needed.
// An empty dir opens a fresh in-memory database that lives as long as the
// returned *sql.DB.
func Open(ctx context.Context, dir, name string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Set("_txlock", "immediate")
	var dsn string
	if dir == "" {
		dsn = "file::memory:?" + q.Encode()
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open %s store: %w", name, err)
		}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		dsn = "file:" + filepath.ToSlash(filepath.Join(dir, name+".db")) + "?" + q.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", name, err)
	}
	// One connection: writes are serialised, and an in-memory database is
	// not lost when an idle connection is closed.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s store: %w", name, err)
	}
	return db, nil
}

// Conn is what every service's store has besides its own methods: a
// readiness probe and Close. A service's Store interface embeds it; SQLite
// and PG implement it for the store types that embed them.
type Conn interface {
	Ping(ctx context.Context) error
	Close() error
}

// SQLite is the database of a service's SQLite store. The store type
// embeds it, which gives the store Ping and Close.
type SQLite struct{ DB *sql.DB }

// Ping checks that the database answers.
func (s SQLite) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

// Close closes the database.
func (s SQLite) Close() error { return s.DB.Close() }

// OpenWith opens the database name in dir as Open does, runs migrate on
// it and returns it wrapped by wrap: a service's SQLite store in one call.
// If migrate fails, the database is closed.
func OpenWith[S any](ctx context.Context, dir, name string, migrate func(context.Context, *sql.DB) error, wrap func(SQLite) S) (S, error) {
	var zero S
	db, err := Open(ctx, dir, name)
	if err != nil {
		return zero, err
	}
	if err := migrate(ctx, db); err != nil {
		_ = db.Close()
		return zero, err
	}
	return wrap(SQLite{DB: db}), nil
}

// Migrate runs each statement in order inside one transaction. Statements
// must be idempotent (CREATE TABLE IF NOT EXISTS …).
func Migrate(ctx context.Context, db *sql.DB, stmts ...string) error {
	return Tx(ctx, db, func(tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		return nil
	})
}

// Tx runs fn in a transaction, committing if it returns nil and rolling
// back otherwise. fn must not use db itself (there is one connection).
func Tx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Querier runs a query: a *sql.DB or a *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Strings runs query on q and returns the single text column of its rows
// (nil for none). The rows are closed when it returns, so a transaction
// may go on with its next statement.
func Strings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	return Rows(ctx, q, query, func(rows *sql.Rows) (string, error) {
		var v string
		err := rows.Scan(&v)
		return v, err
	}, args...)
}

// Rows runs query on q and returns its rows, each read by scan (nil for
// none). The rows are closed when it returns, as with Strings.
func Rows[T any](ctx context.Context, q Querier, query string, scan func(*sql.Rows) (T, error), args ...any) ([]T, error) {
	return AppendRows(ctx, q, nil, query, scan, args...)
}

// AppendRows is Rows appending to out: AppendRows(…, []T{}, …) gives an
// empty list, not nil, for none (a JSON list that reads [], as
// pgx.CollectRows gives on PostgreSQL). On an error it returns nil.
func AppendRows[T any](ctx context.Context, q Querier, out []T, query string, scan func(*sql.Rows) (T, error), args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// AddColumn adds column to table unless it is there already: the
// idempotent ALTER TABLE that Migrate's statements cannot express, so a
// store written by an older version opens with the new schema.
func AddColumn(ctx context.Context, db *sql.DB, table, column, decl string) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	found := false
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("migrate %s: %w", table, err)
		}
		found = found || name == column
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate %s: %w", table, err)
	}
	if found {
		return nil
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+column+` `+decl); err != nil {
		return fmt.Errorf("migrate %s: add %s: %w", table, column, err)
	}
	return nil
}
