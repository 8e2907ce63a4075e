package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultlab/faultlab/internal/problem"
)

// ErrUnavailable marks a store error caused by the database being out of
// reach (connection refused or lost, a timeout), as opposed to a bad query.
// It is a 503 problem with a Retry-After of one second, so that a handler
// writing the error (even wrapped in its own 503) tells the client when to
// come back.
var ErrUnavailable error = problem.Unavailable("the database is unavailable", time.Second)

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// IsPostgresURL reports whether dsn names a PostgreSQL database
// (postgres:// or postgresql://), the form --store accepts.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// OpenPG connects to the PostgreSQL database at url with every connection's
// search_path set to schema (created if missing), and applies the
// migrations in fsys (its *.sql files, in name order) that the schema has
// not had yet. Replicas starting together migrate one at a time: the
// migration runs under a transaction-scoped advisory lock named after the
// schema, and each file is recorded in schema.schema_migrations in the
// transaction that applied it.
func OpenPG(ctx context.Context, url, schema string, fsys fs.FS) (*pgxpool.Pool, error) {
	if !schemaName.MatchString(schema) {
		return nil, fmt.Errorf("open %s store: bad schema name", schema)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL with its password: keep it out.
		return nil, fmt.Errorf("open %s store: the database URL does not parse", schema)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default is 4 on two cores: too few when requests wait
		// on a hot stock row while holding their connection. Eight per
		// service keeps two replicas of four services under PostgreSQL's
		// default max_connections (100).
		cfg.MaxConns = 8
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", schema, PGError(err))
	}
	if err := migratePG(ctx, pool, schema, fsys); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open %s store: %w", schema, err)
	}
	return pool, nil
}

func migratePG(ctx context.Context, pool *pgxpool.Pool, schema string, fsys fs.FS) error {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	q := pgx.Identifier{schema}.Sanitize()
	return PGTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('faultlab.migrate.' || $1))`, schema); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+q+`;
			CREATE TABLE IF NOT EXISTS `+q+`.schema_migrations (
				name text PRIMARY KEY,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for _, name := range names {
			tag, err := tx.Exec(ctx, `INSERT INTO `+q+`.schema_migrations (name) VALUES ($1) ON CONFLICT DO NOTHING`, path.Base(name))
			if err != nil {
				return fmt.Errorf("migrate %s: %w", name, err)
			}
			if tag.RowsAffected() == 0 {
				continue // applied before
			}
			body, err := fs.ReadFile(fsys, name)
			if err != nil {
				return fmt.Errorf("migrate %s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migrate %s: %w", name, err)
			}
		}
		return nil
	})
}

// PG is the pool of a service's PostgreSQL store. The store type embeds
// it, which gives the store Ping and Close.
type PG struct{ DB *pgxpool.Pool }

// Ping checks that the database answers; an unreachable one is
// ErrUnavailable.
func (p PG) Ping(ctx context.Context) error { return PGError(p.DB.Ping(ctx)) }

// Close closes the pool.
func (p PG) Close() error { p.DB.Close(); return nil }

// OpenPGWith opens the pool as OpenPG does and returns it wrapped by wrap:
// a service's store over PostgreSQL in one call.
func OpenPGWith[S any](ctx context.Context, url, schema string, fsys fs.FS, wrap func(PG) S) (S, error) {
	db, err := OpenPG(ctx, url, schema, fsys)
	if err != nil {
		var zero S
		return zero, err
	}
	return wrap(PG{DB: db}), nil
}

// PGTx runs fn in a READ COMMITTED transaction, committing if it returns
// nil and rolling back otherwise. A transaction that PostgreSQL aborts as a
// deadlock victim or a serialization failure runs again, up to three times
// in all: fn must not keep state between runs.
func PGTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	var err error
	for range 3 {
		err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			break
		}
	}
	return PGError(err)
}

// PGError marks err with ErrUnavailable when it means the database is out
// of reach, so that handlers answer 503; other errors pass unchanged.
func PGError(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P0x: the server is shutting
		// down or restarting; 53300: too many connections.
		if strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P0") || pe.Code == "53300" {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || isConnErr(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "unexpected EOF", "conn closed", "closed pool", "failed to connect"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Millis is t in UTC, truncated to the millisecond: what the SQLite stores
// keep of a time, so that both stores give back the same values.
func Millis(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }
