package payment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/faultlab/faultlab/internal/store"
)

// Payment statuses.
const (
	StatusProcessing = "processing"
	StatusSucceeded  = "succeeded"
	StatusDeclined   = "declined"
)

// ErrNotFound is returned for a missing payment.
var ErrNotFound = store.ErrNotFound

// Payment is one charge attempt.
type Payment struct {
	ID          string    `json:"id"`
	OrderID     string    `json:"order_id"`
	UserID      string    `json:"user_id,omitempty"`
	AmountCents int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Record is a payment with its idempotency bookkeeping.
type Record struct {
	Payment
	Key         string
	Fingerprint string
	RespStatus  int
	RespBody    []byte
	// LeaseUntil: while processing, the claim of the request charging it.
	LeaseUntil time.Time
}

// Summary is the exactly-once invariant check.
type Summary struct {
	TotalCharges    int            `json:"total_charges"`
	TotalAmount     int64          `json:"total_amount"`
	Declined        int            `json:"declined"`
	Processing      int            `json:"processing"`
	DuplicateOrders map[string]int `json:"duplicates_per_order"`
}

// Store keeps payments. Begin must be atomic: of two calls with one key,
// exactly one creates the row. Implementations are safe for concurrent use.
type Store interface {
	// Begin inserts rec as processing, claimed until leaseUntil, unless its
	// key exists; then it returns the existing record and created false.
	Begin(ctx context.Context, rec Record, leaseUntil time.Time) (existing Record, created bool, err error)
	// TakeOver claims a processing row whose claim expired before now,
	// until leaseUntil; false if it is not processing or its claim still
	// holds. Of several callers at once, one wins.
	TakeOver(ctx context.Context, key string, now, leaseUntil time.Time) (bool, error)
	// Charges returns up to limit payments with id > after, by id.
	Charges(ctx context.Context, after string, limit int) ([]Payment, error)
	// Complete stores the outcome and the answer of key if it is still
	// processing; done is false when another request completed it first
	// (its claim had expired and was taken over).
	Complete(ctx context.Context, rec Record) (done bool, err error)
	// ByKey returns the payment of an idempotency key.
	ByKey(ctx context.Context, key string) (Record, error)
	ByID(ctx context.Context, id string) (Payment, error)
	ByOrder(ctx context.Context, orderID string) ([]Payment, error)
	Summary(ctx context.Context) (Summary, error)
	store.Conn
}

type sqliteStore struct{ store.SQLite }

// OpenStore opens the SQLite store in dir (empty: in memory).
func OpenStore(ctx context.Context, dir string) (Store, error) {
	return store.OpenWith(ctx, dir, "payment", migrate, func(db store.SQLite) Store { return &sqliteStore{db} })
}

// migrate creates or updates the schema of db.
func migrate(ctx context.Context, db *sql.DB) error {
	if err := store.Migrate(ctx, db,
		`CREATE TABLE IF NOT EXISTS payments (
			id TEXT PRIMARY KEY,
			idem_key TEXT NOT NULL UNIQUE,
			fingerprint TEXT NOT NULL,
			order_id TEXT NOT NULL,
			user_id TEXT NOT NULL,
			amount INTEGER NOT NULL CHECK (amount > 0),
			currency TEXT NOT NULL,
			status TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			resp_status INTEGER NOT NULL DEFAULT 0,
			resp_body BLOB,
			created_at INTEGER NOT NULL,
			updated_at INTEGER NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS payments_order ON payments(order_id)`,
	); err != nil {
		return err
	}
	// A row processing before claims lived in the store has none: it is
	// taken over by the next request with its key.
	if err := store.AddColumn(ctx, db, "payments", "lease_until", "INTEGER NOT NULL DEFAULT 0"); err != nil {
		return err
	}
	return nil
}

const cols = `id, idem_key, fingerprint, order_id, user_id, amount, currency, status, reason, resp_status, resp_body, created_at, updated_at, lease_until`

func scan(sc interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var created, updated, lease int64
	err := sc.Scan(&r.ID, &r.Key, &r.Fingerprint, &r.OrderID, &r.UserID, &r.AmountCents, &r.Currency,
		&r.Status, &r.Reason, &r.RespStatus, &r.RespBody, &created, &updated, &lease)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("scan payment: %w", err)
	}
	r.CreatedAt, r.UpdatedAt, r.LeaseUntil = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC(), time.UnixMilli(lease).UTC()
	return r, nil
}

func (s *sqliteStore) Begin(ctx context.Context, rec Record, leaseUntil time.Time) (Record, bool, error) {
	var out Record
	var created bool
	err := store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO payments
			(id, idem_key, fingerprint, order_id, user_id, amount, currency, status, created_at, updated_at, lease_until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING`,
			rec.ID, rec.Key, rec.Fingerprint, rec.OrderID, rec.UserID, rec.AmountCents, rec.Currency,
			StatusProcessing, rec.CreatedAt.UnixMilli(), rec.UpdatedAt.UnixMilli(), leaseUntil.UnixMilli())
		if err != nil {
			return fmt.Errorf("begin payment: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out, created = rec, true
			out.Status = StatusProcessing
			return nil
		}
		out, err = scan(tx.QueryRowContext(ctx, `SELECT `+cols+` FROM payments WHERE idem_key = ?`, rec.Key))
		return err
	})
	return out, created, err
}

func (s *sqliteStore) TakeOver(ctx context.Context, key string, now, leaseUntil time.Time) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE payments SET lease_until = ?, updated_at = ?
		WHERE idem_key = ? AND status = ? AND lease_until <= ?`,
		leaseUntil.UnixMilli(), now.UnixMilli(), key, StatusProcessing, now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("take over payment: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *sqliteStore) Charges(ctx context.Context, after string, limit int) ([]Payment, error) {
	return s.list(ctx, "charges", `SELECT `+cols+` FROM payments WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

// list runs a query of whole payment rows and returns their payments.
func (s *sqliteStore) list(ctx context.Context, what, query string, args ...any) ([]Payment, error) {
	out, err := store.AppendRows(ctx, s.DB, []Payment{}, query, func(rows *sql.Rows) (Payment, error) {
		r, err := scan(rows)
		return r.Payment, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func (s *sqliteStore) Complete(ctx context.Context, rec Record) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `UPDATE payments SET status = ?, reason = ?, resp_status = ?, resp_body = ?, updated_at = ?
		WHERE idem_key = ? AND status = ?`,
		rec.Status, rec.Reason, rec.RespStatus, rec.RespBody, rec.UpdatedAt.UnixMilli(), rec.Key, StatusProcessing)
	if err != nil {
		return false, fmt.Errorf("complete payment: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *sqliteStore) ByKey(ctx context.Context, key string) (Record, error) {
	return scan(s.DB.QueryRowContext(ctx, `SELECT `+cols+` FROM payments WHERE idem_key = ?`, key))
}

func (s *sqliteStore) ByID(ctx context.Context, id string) (Payment, error) {
	r, err := scan(s.DB.QueryRowContext(ctx, `SELECT `+cols+` FROM payments WHERE id = ?`, id))
	return r.Payment, err
}

func (s *sqliteStore) ByOrder(ctx context.Context, orderID string) ([]Payment, error) {
	return s.list(ctx, "payments by order", `SELECT `+cols+` FROM payments WHERE order_id = ? ORDER BY created_at, id`, orderID)
}

func (s *sqliteStore) Summary(ctx context.Context) (Summary, error) {
	sum := Summary{DuplicateOrders: map[string]int{}}
	err := s.DB.QueryRowContext(ctx, `SELECT
		coalesce(sum(status = 'succeeded'), 0),
		coalesce(sum(CASE WHEN status = 'succeeded' THEN amount ELSE 0 END), 0),
		coalesce(sum(status = 'declined'), 0),
		coalesce(sum(status = 'processing'), 0) FROM payments`).
		Scan(&sum.TotalCharges, &sum.TotalAmount, &sum.Declined, &sum.Processing)
	if err != nil {
		return Summary{}, fmt.Errorf("summary: %w", err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT order_id, count(*) FROM payments WHERE status = 'succeeded'
		GROUP BY order_id HAVING count(*) > 1`)
	if err != nil {
		return Summary{}, fmt.Errorf("summary: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return Summary{}, fmt.Errorf("summary: %w", err)
		}
		sum.DuplicateOrders[id] = n
	}
	return sum, rows.Err()
}
