package order

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultlab/faultlab/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// pgStore keeps orders in PostgreSQL, schema "order_svc" ("order" is a
// reserved word). Transactions run at READ COMMITTED; each guarantee of the
// saga is carried by one statement that PostgreSQL re-checks on the row's
// newest version after waiting for a concurrent writer:
//
//   - Begin: INSERT … ON CONFLICT (user_id, idem_key) DO NOTHING, then the
//     event and outbox rows in the same transaction.
//   - Claim: one UPDATE whose target is chosen by SELECT … FOR UPDATE SKIP
//     LOCKED: a replica never queues behind another replica's claim or
//     transition of the same order; it finds the order taken (ErrLeased)
//     and moves on to the next, so several reconcilers share the pending
//     orders side by side.
//   - Extend, Unlease: one UPDATE each, conditional on the lease owner.
//   - Transition: one UPDATE … WHERE version AND status AND lease owner AND
//     lease_until > now, then the event and outbox rows, in one
//     transaction.
//   - History reads in one REPEATABLE READ, read-only transaction, so that
//     its orders and events are one snapshot.
type pgStore struct{ store.PG }

// OpenPGStore opens the PostgreSQL store at url (postgres://…), applying
// the embedded migrations to schema "order_svc".
func OpenPGStore(ctx context.Context, url string) (Store, error) {
	return store.OpenPGWith(ctx, url, "order_svc", migrations, func(db store.PG) Store { return &pgStore{db} })
}

const pgCols = `id, user_id, idem_key, fingerprint, status, reason, items, total_cents, currency, payment_id,
	attempt, version, lease_owner, lease_until, resp_status, resp_body, retry_after_ms, created_at, updated_at`

func pgScan(row pgx.Row) (Record, error) {
	var r Record
	var retryMS int64
	err := row.Scan(&r.ID, &r.UserID, &r.Key, &r.Fingerprint, &r.Status, &r.Reason, &r.Items, &r.TotalCents,
		&r.Currency, &r.PaymentID, &r.Attempt, &r.Version, &r.LeaseOwner, &r.LeaseUntil, &r.RespStatus, &r.RespBody,
		&retryMS, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("scan order: %w", store.PGError(err))
	}
	r.CreatedAt, r.UpdatedAt, r.LeaseUntil = r.CreatedAt.UTC(), r.UpdatedAt.UTC(), r.LeaseUntil.UTC()
	r.RetryAfter = time.Duration(retryMS) * time.Millisecond
	return r, nil
}

func pgAppendEvent(ctx context.Context, tx pgx.Tx, r Record, from string, at time.Time, ch Change) error {
	actor := ch.actor()
	if _, err := tx.Exec(ctx, `INSERT INTO order_events (order_id, from_status, to_status, attempt, version, at, actor, trace_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.ID, from, r.Status, r.Attempt, r.Version, store.Millis(at), actor, ch.TraceID); err != nil {
		return fmt.Errorf("append order event: %w", err)
	}
	return ch.queue(r, func(res, op string) error {
		if _, err := tx.Exec(ctx, `INSERT INTO order_outbox (reservation_id, op, order_id, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (reservation_id, op) DO NOTHING`, res, op, r.ID, store.Millis(at)); err != nil {
			return fmt.Errorf("queue %s: %w", op, err)
		}
		return nil
	})
}

func (s *pgStore) Begin(ctx context.Context, rec Record, owner string, until time.Time, ch Change) (Record, bool, error) {
	items := rec.Items
	if items == nil {
		items = []Line{}
	}
	var out Record
	var created bool
	err := store.PGTx(ctx, s.DB, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO orders
			(id, user_id, idem_key, fingerprint, status, items, attempt, version, lease_owner, lease_until, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11) ON CONFLICT (user_id, idem_key) DO NOTHING`,
			rec.ID, rec.UserID, rec.Key, rec.Fingerprint, rec.Status, items, rec.Attempt,
			owner, store.Millis(until), store.Millis(rec.CreatedAt), store.Millis(rec.UpdatedAt))
		if err != nil {
			return fmt.Errorf("begin order: %w", err)
		}
		if tag.RowsAffected() == 1 {
			out, created = rec, true
			out.Version, out.LeaseOwner, out.LeaseUntil = 1, owner, until.UTC()
			return pgAppendEvent(ctx, tx, out, "", rec.CreatedAt, ch)
		}
		out, err = pgScan(tx.QueryRow(ctx, `SELECT `+pgCols+` FROM orders WHERE user_id = $1 AND idem_key = $2`, rec.UserID, rec.Key))
		return err
	})
	return out, created, err
}

// leased runs a conditional UPDATE … RETURNING the order; when it touches
// no row it reads the order as it is and answers ErrLeased (or
// ErrNotFound).
func (s *pgStore) leased(ctx context.Context, what, id, update string, args ...any) (Record, error) {
	rec, err := pgScan(s.DB.QueryRow(ctx, update, args...))
	if !errors.Is(err, ErrNotFound) {
		if err != nil {
			return Record{}, fmt.Errorf("%s: %w", what, err)
		}
		return rec, nil
	}
	rec, err = s.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	return rec, ErrLeased
}

func (s *pgStore) Claim(ctx context.Context, id, owner string, now, until time.Time) (Record, error) {
	return s.leased(ctx, "claim order", id, `UPDATE orders SET lease_owner = $2, lease_until = $3
		WHERE id = (SELECT id FROM orders WHERE id = $1 AND (lease_owner = '' OR lease_owner = $2 OR lease_until <= $4)
			FOR UPDATE SKIP LOCKED)
		RETURNING `+pgCols, id, owner, store.Millis(until), store.Millis(now))
}

func (s *pgStore) Extend(ctx context.Context, id, owner string, until time.Time) (Record, error) {
	return s.leased(ctx, "extend lease", id, `UPDATE orders SET lease_until = $3 WHERE id = $1 AND lease_owner = $2 RETURNING `+pgCols,
		id, owner, store.Millis(until))
}

func (s *pgStore) Unlease(ctx context.Context, id, owner string) error {
	if _, err := s.DB.Exec(ctx, `UPDATE orders SET lease_owner = '', lease_until = 'epoch' WHERE id = $1 AND lease_owner = $2`, id, owner); err != nil {
		return fmt.Errorf("unlease order: %w", store.PGError(err))
	}
	return nil
}

func (s *pgStore) Transition(ctx context.Context, r Record, from, owner string, now time.Time, ch Change) (Record, error) {
	items := r.Items
	if items == nil {
		items = []Line{}
	}
	err := store.PGTx(ctx, s.DB, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE orders SET status = $1, reason = $2, items = $3, total_cents = $4, currency = $5,
			payment_id = $6, attempt = $7, resp_status = $8, resp_body = $9, retry_after_ms = $10, updated_at = $11, version = version + 1
			WHERE id = $12 AND version = $13 AND status = $14 AND status NOT IN ($15, $16) AND lease_owner = $17 AND lease_until > $18`,
			r.Status, r.Reason, items, r.TotalCents, r.Currency, r.PaymentID, r.Attempt, r.RespStatus, r.RespBody,
			r.RetryAfter.Milliseconds(), store.Millis(r.UpdatedAt),
			r.ID, r.Version, from, StatusConfirmed, StatusFailed, owner, store.Millis(now))
		if err != nil {
			return fmt.Errorf("transition order: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s is not %s at version %d under this lease", ErrConflict, r.ID, from, r.Version)
		}
		next := r
		next.Version++
		return pgAppendEvent(ctx, tx, next, from, now, ch)
	})
	if err != nil {
		return Record{}, err
	}
	r.Version++
	return r, nil
}

func (s *pgStore) Get(ctx context.Context, id string) (Record, error) {
	return pgScan(s.DB.QueryRow(ctx, `SELECT `+pgCols+` FROM orders WHERE id = $1`, id))
}
