package order

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faultlab/faultlab/internal/store"
)

// Order statuses.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusFailed    = "failed"
)

// ErrNotFound is returned for a missing order.
var ErrNotFound = store.ErrNotFound

// Line is one order line; the unit price is the one stock was reserved at.
type Line struct {
	ProductID      string `json:"product_id"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents,omitempty"`
}

// Order is what clients see.
type Order struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	Items      []Line    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency,omitempty"`
	PaymentID  string    `json:"payment_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Record is an order with its idempotency bookkeeping.
type Record struct {
	Order
	Key         string
	Fingerprint string
	// Attempt numbers the runs of this order; each run reserves stock
	// under its own reservation id.
	Attempt int
	// RespStatus and RespBody are the stored answer of a finished run.
	RespStatus int
	RespBody   []byte
	// Retryable marks a failure caused by an unavailable upstream: a replay
	// of the key runs the same order again instead of replaying the answer.
	Retryable bool

	retryAfter time.Duration // of this run's failure; not stored
}

// Store keeps orders. Begin must be atomic per (user, key).
// Implementations are safe for concurrent use.
type Store interface {
	// Begin inserts rec unless its user already used its key; then it
	// returns the existing record and created false.
	Begin(ctx context.Context, rec Record) (existing Record, created bool, err error)
	// Save updates everything but the id, user, key and creation time.
	Save(ctx context.Context, rec Record) error
	Get(ctx context.Context, id string) (Record, error)
	// ListByUser returns up to limit of a user's orders, newest first,
	// strictly after the cursor (the zero Cursor: from the newest), whether
	// more follow, and how many the user has in all.
	ListByUser(ctx context.Context, userID string, limit int, after Cursor) (page []Order, more bool, total int, err error)
	Pending(ctx context.Context) ([]Record, error)
	Ping(ctx context.Context) error
	Close() error
}

type sqliteStore struct{ db *sql.DB }

// OpenStore opens the SQLite store in dir (empty: in memory).
func OpenStore(ctx context.Context, dir string) (Store, error) {
	db, err := store.Open(ctx, dir, "order")
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, db,
		`CREATE TABLE IF NOT EXISTS orders (
			id TEXT PRIMARY KEY,
			user_id TEXT NOT NULL,
			idem_key TEXT NOT NULL,
			fingerprint TEXT NOT NULL,
			status TEXT NOT NULL,
			reason TEXT NOT NULL DEFAULT '',
			items TEXT NOT NULL,
			total_cents INTEGER NOT NULL DEFAULT 0,
			currency TEXT NOT NULL DEFAULT '',
			payment_id TEXT NOT NULL DEFAULT '',
			attempt INTEGER NOT NULL DEFAULT 1,
			resp_status INTEGER NOT NULL DEFAULT 0,
			resp_body BLOB,
			retryable INTEGER NOT NULL DEFAULT 0,
			created_at INTEGER NOT NULL,
			updated_at INTEGER NOT NULL,
			UNIQUE (user_id, idem_key)
		)`,
		`CREATE INDEX IF NOT EXISTS orders_status ON orders(status)`,
		`CREATE INDEX IF NOT EXISTS orders_user ON orders(user_id, created_at)`,
	); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &sqliteStore{db: db}, nil
}

const cols = `id, user_id, idem_key, fingerprint, status, reason, items, total_cents, currency, payment_id,
	attempt, resp_status, resp_body, retryable, created_at, updated_at`

func scan(sc interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var items string
	var created, updated int64
	err := sc.Scan(&r.ID, &r.UserID, &r.Key, &r.Fingerprint, &r.Status, &r.Reason, &items, &r.TotalCents,
		&r.Currency, &r.PaymentID, &r.Attempt, &r.RespStatus, &r.RespBody, &r.Retryable, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("scan order: %w", err)
	}
	if err := json.Unmarshal([]byte(items), &r.Items); err != nil {
		return Record{}, fmt.Errorf("scan order items: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return r, nil
}

func (s *sqliteStore) Begin(ctx context.Context, rec Record) (Record, bool, error) {
	items, err := json.Marshal(rec.Items)
	if err != nil {
		return Record{}, false, err
	}
	var out Record
	var created bool
	err = store.Tx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO orders
			(id, user_id, idem_key, fingerprint, status, items, attempt, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, idem_key) DO NOTHING`,
			rec.ID, rec.UserID, rec.Key, rec.Fingerprint, rec.Status, string(items), rec.Attempt,
			rec.CreatedAt.UnixMilli(), rec.UpdatedAt.UnixMilli())
		if err != nil {
			return fmt.Errorf("begin order: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out, created = rec, true
			return nil
		}
		out, err = scan(tx.QueryRowContext(ctx, `SELECT `+cols+` FROM orders WHERE user_id = ? AND idem_key = ?`, rec.UserID, rec.Key))
		return err
	})
	return out, created, err
}

func (s *sqliteStore) Save(ctx context.Context, r Record) error {
	items, err := json.Marshal(r.Items)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE orders SET status = ?, reason = ?, items = ?, total_cents = ?, currency = ?,
		payment_id = ?, attempt = ?, resp_status = ?, resp_body = ?, retryable = ?, updated_at = ? WHERE id = ?`,
		r.Status, r.Reason, string(items), r.TotalCents, r.Currency, r.PaymentID, r.Attempt, r.RespStatus, r.RespBody,
		r.Retryable, r.UpdatedAt.UnixMilli(), r.ID)
	if err != nil {
		return fmt.Errorf("save order: %w", err)
	}
	return nil
}

func (s *sqliteStore) Get(ctx context.Context, id string) (Record, error) {
	return scan(s.db.QueryRowContext(ctx, `SELECT `+cols+` FROM orders WHERE id = ?`, id))
}

func (s *sqliteStore) ListByUser(ctx context.Context, userID string, limit int, after Cursor) ([]Order, bool, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE user_id = ?`, userID).Scan(&total); err != nil {
		return nil, false, 0, fmt.Errorf("count orders: %w", err)
	}
	q := `SELECT ` + cols + ` FROM orders WHERE user_id = ?`
	args := []any{userID}
	if after.ID != "" {
		q += ` AND (created_at < ? OR (created_at = ? AND id > ?))`
		args = append(args, after.CreatedAt, after.CreatedAt, after.ID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at DESC, id LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, 0, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	out := []Order{}
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, false, 0, err
		}
		out = append(out, r.Order)
	}
	if err := rows.Err(); err != nil {
		return nil, false, 0, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, total, nil
}

func (s *sqliteStore) Pending(ctx context.Context) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+cols+` FROM orders WHERE status = ? ORDER BY created_at`, StatusPending)
	if err != nil {
		return nil, fmt.Errorf("pending orders: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqliteStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
func (s *sqliteStore) Close() error                   { return s.db.Close() }
