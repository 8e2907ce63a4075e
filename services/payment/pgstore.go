package payment

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

// pgStore keeps payments in PostgreSQL, schema "payment". Every write is
// one statement at READ COMMITTED, the guarantee carried by the statement
// itself: the unique idem_key with INSERT … ON CONFLICT DO NOTHING (of two
// Begins with one key, one inserts and the other waits for it and then
// reads its row), and the conditional UPDATEs of TakeOver and Complete,
// which PostgreSQL re-checks on the row's newest version after waiting for
// a concurrent writer, so that of two callers one wins.
type pgStore struct{ store.PG }

// OpenPGStore opens the PostgreSQL store at url (postgres://…), applying
// the embedded migrations to schema "payment".
func OpenPGStore(ctx context.Context, url string) (Store, error) {
	return store.OpenPGWith(ctx, url, "payment", migrations, func(db store.PG) Store { return &pgStore{db} })
}

const pgCols = `id, idem_key, fingerprint, order_id, user_id, amount, currency, status, reason, resp_status, resp_body, created_at, updated_at, lease_until`

func pgScan(row pgx.Row) (Record, error) {
	var r Record
	err := row.Scan(&r.ID, &r.Key, &r.Fingerprint, &r.OrderID, &r.UserID, &r.AmountCents, &r.Currency,
		&r.Status, &r.Reason, &r.RespStatus, &r.RespBody, &r.CreatedAt, &r.UpdatedAt, &r.LeaseUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("scan payment: %w", store.PGError(err))
	}
	r.CreatedAt, r.UpdatedAt, r.LeaseUntil = r.CreatedAt.UTC(), r.UpdatedAt.UTC(), r.LeaseUntil.UTC()
	return r, nil
}

func (s *pgStore) Begin(ctx context.Context, rec Record, leaseUntil time.Time) (Record, bool, error) {
	tag, err := s.DB.Exec(ctx, `INSERT INTO payments
		(id, idem_key, fingerprint, order_id, user_id, amount, currency, status, created_at, updated_at, lease_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (idem_key) DO NOTHING`,
		rec.ID, rec.Key, rec.Fingerprint, rec.OrderID, rec.UserID, rec.AmountCents, rec.Currency,
		StatusProcessing, store.Millis(rec.CreatedAt), store.Millis(rec.UpdatedAt), store.Millis(leaseUntil))
	if err != nil {
		return Record{}, false, fmt.Errorf("begin payment: %w", store.PGError(err))
	}
	if tag.RowsAffected() == 1 {
		out := rec
		out.Status = StatusProcessing
		return out, true, nil
	}
	// The row is committed: ON CONFLICT waited for its inserter.
	out, err := s.ByKey(ctx, rec.Key)
	return out, false, err
}

func (s *pgStore) TakeOver(ctx context.Context, key string, now, leaseUntil time.Time) (bool, error) {
	tag, err := s.DB.Exec(ctx, `UPDATE payments SET lease_until = $1, updated_at = $2
		WHERE idem_key = $3 AND status = $4 AND lease_until <= $2`,
		store.Millis(leaseUntil), store.Millis(now), key, StatusProcessing)
	if err != nil {
		return false, fmt.Errorf("take over payment: %w", store.PGError(err))
	}
	return tag.RowsAffected() == 1, nil
}

func (s *pgStore) Charges(ctx context.Context, after string, limit int) ([]Payment, error) {
	return s.list(ctx, "charges", `SELECT `+pgCols+` FROM payments WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
}

func (s *pgStore) list(ctx context.Context, what, query string, args ...any) ([]Payment, error) {
	rows, err := s.DB.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, store.PGError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Payment, error) {
		r, err := pgScan(row)
		return r.Payment, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, store.PGError(err))
	}
	return out, nil
}

func (s *pgStore) Complete(ctx context.Context, rec Record) (bool, error) {
	tag, err := s.DB.Exec(ctx, `UPDATE payments SET status = $1, reason = $2, resp_status = $3, resp_body = $4, updated_at = $5
		WHERE idem_key = $6 AND status = $7`,
		rec.Status, rec.Reason, rec.RespStatus, rec.RespBody, store.Millis(rec.UpdatedAt), rec.Key, StatusProcessing)
	if err != nil {
		return false, fmt.Errorf("complete payment: %w", store.PGError(err))
	}
	return tag.RowsAffected() == 1, nil
}

func (s *pgStore) ByKey(ctx context.Context, key string) (Record, error) {
	return pgScan(s.DB.QueryRow(ctx, `SELECT `+pgCols+` FROM payments WHERE idem_key = $1`, key))
}

func (s *pgStore) ByID(ctx context.Context, id string) (Payment, error) {
	r, err := pgScan(s.DB.QueryRow(ctx, `SELECT `+pgCols+` FROM payments WHERE id = $1`, id))
	return r.Payment, err
}

func (s *pgStore) ByOrder(ctx context.Context, orderID string) ([]Payment, error) {
	return s.list(ctx, "payments by order", `SELECT `+pgCols+` FROM payments WHERE order_id = $1 ORDER BY created_at, id`, orderID)
}

func (s *pgStore) Summary(ctx context.Context) (Summary, error) {
	sum := Summary{DuplicateOrders: map[string]int{}}
	err := s.DB.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE status = 'succeeded'),
		coalesce(sum(amount) FILTER (WHERE status = 'succeeded'), 0),
		count(*) FILTER (WHERE status = 'declined'),
		count(*) FILTER (WHERE status = 'processing') FROM payments`).
		Scan(&sum.TotalCharges, &sum.TotalAmount, &sum.Declined, &sum.Processing)
	if err != nil {
		return Summary{}, fmt.Errorf("summary: %w", store.PGError(err))
	}
	rows, err := s.DB.Query(ctx, `SELECT order_id, count(*) FROM payments WHERE status = 'succeeded'
		GROUP BY order_id HAVING count(*) > 1`)
	if err != nil {
		return Summary{}, fmt.Errorf("summary: %w", store.PGError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return Summary{}, fmt.Errorf("summary: %w", store.PGError(err))
		}
		sum.DuplicateOrders[id] = n
	}
	return sum, store.PGError(rows.Err())
}
