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

// Order statuses. Confirmed and failed are final: the store refuses to move
// an order out of them. Interrupted is not: the run ended because an
// upstream was unavailable, holding no stock and no charge, and a replay of
// the key runs the order again (a new attempt).
const (
	StatusPending     = "pending"
	StatusConfirmed   = "confirmed"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// Actors of a transition.
const (
	ActorRequest    = "request"
	ActorReconciler = "reconciler"
)

// Outbox operations.
const (
	// OpRelease releases a reservation.
	OpRelease = "release"
	// OpVerifyCharge asks payment, for a lease term after an order was
	// interrupted while a charge was under way, whether a charge landed
	// after all; one that did is adopted (the order runs again).
	OpVerifyCharge = "verify_charge"
)

// Store errors.
var (
	// ErrNotFound is returned for a missing order.
	ErrNotFound = store.ErrNotFound
	// ErrLeased means another run holds the order's lease.
	ErrLeased = errors.New("order is leased by another run")
	// ErrConflict means a conditional write lost: the order is not in the
	// status, version or lease the writer expected. The writer re-reads.
	ErrConflict = errors.New("order changed meanwhile")
)

// Final reports whether status is one an order never leaves.
func Final(status string) bool { return status == StatusConfirmed || status == StatusFailed }

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

// Event is one transition of an order, appended in the transaction that
// made it.
type Event struct {
	Seq     int64     `json:"seq"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Attempt int       `json:"attempt"`
	Version int       `json:"version"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	TraceID string    `json:"trace_id"`
}

// History is an order with its bookkeeping and its transitions, as
// GET /internal/orders serves it.
type History struct {
	Order
	IdempotencyKey string  `json:"idempotency_key"`
	Version        int     `json:"version"`
	Attempt        int     `json:"attempt"`
	Events         []Event `json:"events"`
}

// Record is an order with its idempotency bookkeeping.
type Record struct {
	Order
	Key         string
	Fingerprint string
	// Attempt numbers the runs of this order; each run reserves stock
	// under its own reservation id.
	Attempt int
	// Version bumps on every transition; a write names the one it read.
	Version int
	// LeaseOwner and LeaseUntil: the run that owns the order until then.
	LeaseOwner string
	LeaseUntil time.Time
	// RespStatus and RespBody are the stored answer of a finished run.
	RespStatus int
	RespBody   []byte
	// RetryAfter is the Retry-After of an interrupted run's answer.
	RetryAfter time.Duration
}

// Change says who makes a transition and what it leaves for the outbox.
type Change struct {
	// Actor is ActorRequest or ActorReconciler.
	Actor string
	// TraceID is the trace of the request or pass that made it.
	TraceID string
	// Release lists reservations to release, queued in the outbox in the
	// same transaction.
	Release []string
	// VerifyCharge queues an OpVerifyCharge of the order's attempt.
	VerifyCharge bool
}

// OutboxItem is an upstream call that must land: queued in the
// transaction that decided it, removed once it has.
type OutboxItem struct {
	ReservationID string
	OrderID       string
	Op            string
	Tries         int
	LastError     string
	CreatedAt     time.Time
}

// Store keeps orders. Implementations are safe for concurrent use; every
// transition is a conditional write.
type Store interface {
	// Begin inserts rec, leased to owner until until, unless its user
	// already used its key; then it returns the existing record and
	// created false (and takes no lease).
	Begin(ctx context.Context, rec Record, owner string, until time.Time, ch Change) (existing Record, created bool, err error)
	// Claim leases order id to owner until until if no other run holds an
	// unexpired lease (at now), and returns the order as it is now, read
	// in the same transaction. ErrLeased if another run holds it.
	Claim(ctx context.Context, id, owner string, now, until time.Time) (Record, error)
	// Extend moves owner's lease on id to until, even if it ran out, as
	// long as no other run has claimed the order since; else ErrLeased
	// (with the order as it is now). A run that lost its order never gets
	// it back.
	Extend(ctx context.Context, id, owner string, until time.Time) (Record, error)
	// Unlease gives up owner's lease on id (a no-op if it has none).
	Unlease(ctx context.Context, id, owner string) error
	// Transition writes rec (status, reason, items, totals, payment id,
	// attempt, answer) if the order is still at version rec.Version with
	// status from, not final, and leased by owner unexpired at now. It
	// appends the event and queues ch.Release in the same transaction and
	// returns rec at its new version. ErrConflict if anything differs.
	Transition(ctx context.Context, rec Record, from, owner string, now time.Time, ch Change) (Record, error)
	Get(ctx context.Context, id string) (Record, error)
	// ListByUser returns up to limit of a user's orders, newest first,
	// strictly after the cursor (the zero Cursor: from the newest), whether
	// more follow, and how many the user has in all.
	ListByUser(ctx context.Context, userID string, limit int, after Cursor) (page []Order, more bool, total int, err error)
	// Pending returns the ids of pending orders, oldest first.
	Pending(ctx context.Context) ([]string, error)
	// Outbox returns the queued calls, oldest first; Done removes one and
	// Tried records a failed try.
	Outbox(ctx context.Context) ([]OutboxItem, error)
	Done(ctx context.Context, reservationID, op string) error
	Tried(ctx context.Context, reservationID, op, lastError string) error
	// History returns up to limit orders with id > after, by id, with
	// their events.
	History(ctx context.Context, after string, limit int) ([]History, error)
	store.Conn
}

type sqliteStore struct{ store.SQLite }

// OpenStore opens the SQLite store in dir (empty: in memory).
func OpenStore(ctx context.Context, dir string) (Store, error) {
	return store.OpenWith(ctx, dir, "order", migrate, func(db store.SQLite) Store { return &sqliteStore{db} })
}

func migrate(ctx context.Context, db *sql.DB) error {
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
		`CREATE TABLE IF NOT EXISTS order_events (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			order_id TEXT NOT NULL,
			from_status TEXT NOT NULL,
			to_status TEXT NOT NULL,
			attempt INTEGER NOT NULL,
			version INTEGER NOT NULL,
			at INTEGER NOT NULL,
			actor TEXT NOT NULL,
			trace_id TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX IF NOT EXISTS order_events_order ON order_events(order_id, seq)`,
		`CREATE TABLE IF NOT EXISTS order_outbox (
			reservation_id TEXT NOT NULL,
			op TEXT NOT NULL,
			order_id TEXT NOT NULL,
			tries INTEGER NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT '',
			created_at INTEGER NOT NULL,
			PRIMARY KEY (reservation_id, op)
		)`,
	); err != nil {
		return err
	}
	for _, c := range [][2]string{
		{"version", "INTEGER NOT NULL DEFAULT 1"},
		{"lease_owner", "TEXT NOT NULL DEFAULT ''"},
		{"lease_until", "INTEGER NOT NULL DEFAULT 0"},
		{"retry_after_ms", "INTEGER NOT NULL DEFAULT 0"},
	} {
		if err := store.AddColumn(ctx, db, "orders", c[0], c[1]); err != nil {
			return err
		}
	}
	// A store written before interrupted existed kept retryable failures
	// as failed; they are interrupted runs, not final ones.
	_, err := db.ExecContext(ctx, `UPDATE orders SET status = ?, retryable = 0 WHERE status = ? AND retryable = 1`,
		StatusInterrupted, StatusFailed)
	if err != nil {
		return fmt.Errorf("migrate orders: %w", err)
	}
	return nil
}

const cols = `id, user_id, idem_key, fingerprint, status, reason, items, total_cents, currency, payment_id,
	attempt, version, lease_owner, lease_until, resp_status, resp_body, retry_after_ms, created_at, updated_at`

func scan(sc interface{ Scan(...any) error }) (Record, error) {
	var r Record
	var items string
	var created, updated, leaseUntil, retryMS int64
	err := sc.Scan(&r.ID, &r.UserID, &r.Key, &r.Fingerprint, &r.Status, &r.Reason, &items, &r.TotalCents,
		&r.Currency, &r.PaymentID, &r.Attempt, &r.Version, &r.LeaseOwner, &leaseUntil, &r.RespStatus, &r.RespBody,
		&retryMS, &created, &updated)
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
	r.LeaseUntil = time.UnixMilli(leaseUntil).UTC()
	r.RetryAfter = time.Duration(retryMS) * time.Millisecond
	return r, nil
}

func appendEvent(ctx context.Context, tx *sql.Tx, r Record, from string, at time.Time, ch Change) error {
	actor := ch.actor()
	_, err := tx.ExecContext(ctx, `INSERT INTO order_events (order_id, from_status, to_status, attempt, version, at, actor, trace_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, from, r.Status, r.Attempt, r.Version, at.UnixMilli(), actor, ch.TraceID)
	if err != nil {
		return fmt.Errorf("append order event: %w", err)
	}
	return ch.queue(r, func(res, op string) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_outbox (reservation_id, op, order_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (reservation_id, op) DO NOTHING`, res, op, r.ID, at.UnixMilli()); err != nil {
			return fmt.Errorf("queue %s: %w", op, err)
		}
		return nil
	})
}

func (s *sqliteStore) Begin(ctx context.Context, rec Record, owner string, until time.Time, ch Change) (Record, bool, error) {
	items, err := json.Marshal(rec.Items)
	if err != nil {
		return Record{}, false, err
	}
	var out Record
	var created bool
	err = store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO orders
			(id, user_id, idem_key, fingerprint, status, items, attempt, version, lease_owner, lease_until, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (user_id, idem_key) DO NOTHING`,
			rec.ID, rec.UserID, rec.Key, rec.Fingerprint, rec.Status, string(items), rec.Attempt,
			owner, until.UnixMilli(), rec.CreatedAt.UnixMilli(), rec.UpdatedAt.UnixMilli())
		if err != nil {
			return fmt.Errorf("begin order: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out, created = rec, true
			out.Version, out.LeaseOwner, out.LeaseUntil = 1, owner, until.UTC()
			return appendEvent(ctx, tx, out, "", rec.CreatedAt, ch)
		}
		out, err = scan(tx.QueryRowContext(ctx, `SELECT `+cols+` FROM orders WHERE user_id = ? AND idem_key = ?`, rec.UserID, rec.Key))
		return err
	})
	return out, created, err
}

func (s *sqliteStore) Claim(ctx context.Context, id, owner string, now, until time.Time) (Record, error) {
	var out Record
	err := store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE orders SET lease_owner = ?, lease_until = ?
			WHERE id = ? AND (lease_owner = '' OR lease_owner = ? OR lease_until <= ?)`,
			owner, until.UnixMilli(), id, owner, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("claim order: %w", err)
		}
		rec, err := scan(tx.QueryRowContext(ctx, `SELECT `+cols+` FROM orders WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			out = rec
			return ErrLeased
		}
		out = rec
		return nil
	})
	if errors.Is(err, ErrLeased) {
		return out, ErrLeased
	}
	return out, err
}

func (s *sqliteStore) Extend(ctx context.Context, id, owner string, until time.Time) (Record, error) {
	var out Record
	err := store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE orders SET lease_until = ? WHERE id = ? AND lease_owner = ?`, until.UnixMilli(), id, owner)
		if err != nil {
			return fmt.Errorf("extend lease: %w", err)
		}
		if out, err = scan(tx.QueryRowContext(ctx, `SELECT `+cols+` FROM orders WHERE id = ?`, id)); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrLeased
		}
		return nil
	})
	return out, err
}

func (s *sqliteStore) Unlease(ctx context.Context, id, owner string) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE orders SET lease_owner = '', lease_until = 0 WHERE id = ? AND lease_owner = ?`, id, owner)
	if err != nil {
		return fmt.Errorf("unlease order: %w", err)
	}
	return nil
}

func (s *sqliteStore) Transition(ctx context.Context, r Record, from, owner string, now time.Time, ch Change) (Record, error) {
	items, err := json.Marshal(r.Items)
	if err != nil {
		return Record{}, err
	}
	err = store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, reason = ?, items = ?, total_cents = ?, currency = ?,
			payment_id = ?, attempt = ?, resp_status = ?, resp_body = ?, retry_after_ms = ?, updated_at = ?, version = version + 1
			WHERE id = ? AND version = ? AND status = ? AND status NOT IN (?, ?) AND lease_owner = ? AND lease_until > ?`,
			r.Status, r.Reason, string(items), r.TotalCents, r.Currency, r.PaymentID, r.Attempt, r.RespStatus, r.RespBody,
			r.RetryAfter.Milliseconds(), r.UpdatedAt.UnixMilli(),
			r.ID, r.Version, from, StatusConfirmed, StatusFailed, owner, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("transition order: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s is not %s at version %d under this lease", ErrConflict, r.ID, from, r.Version)
		}
		r.Version++
		return appendEvent(ctx, tx, r, from, now, ch)
	})
	if err != nil {
		return Record{}, err
	}
	return r, nil
}

func (s *sqliteStore) Get(ctx context.Context, id string) (Record, error) {
	return scan(s.DB.QueryRowContext(ctx, `SELECT `+cols+` FROM orders WHERE id = ?`, id))
}

func (s *sqliteStore) ListByUser(ctx context.Context, userID string, limit int, after Cursor) ([]Order, bool, int, error) {
	var total int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE user_id = ?`, userID).Scan(&total); err != nil {
		return nil, false, 0, fmt.Errorf("count orders: %w", err)
	}
	q := `SELECT ` + cols + ` FROM orders WHERE user_id = ?`
	args := []any{userID}
	if after.ID != "" {
		q += ` AND (created_at < ? OR (created_at = ? AND id > ?))`
		args = append(args, after.CreatedAt, after.CreatedAt, after.ID)
	}
	out, err := store.AppendRows(ctx, s.DB, []Order{}, q+` ORDER BY created_at DESC, id LIMIT ?`, func(rows *sql.Rows) (Order, error) {
		r, err := scan(rows)
		return r.Order, err
	}, append(args, limit+1)...)
	if err != nil {
		return nil, false, 0, fmt.Errorf("list orders: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, total, nil
}

func (s *sqliteStore) Pending(ctx context.Context) ([]string, error) {
	ids, err := store.Strings(ctx, s.DB, `SELECT id FROM orders WHERE status = ? ORDER BY created_at, id`, StatusPending)
	if err != nil {
		return nil, fmt.Errorf("pending orders: %w", err)
	}
	return ids, nil
}

func (s *sqliteStore) Outbox(ctx context.Context) ([]OutboxItem, error) {
	out, err := store.Rows(ctx, s.DB, `SELECT reservation_id, op, order_id, tries, last_error, created_at
		FROM order_outbox ORDER BY created_at, reservation_id`, func(rows *sql.Rows) (OutboxItem, error) {
		var it OutboxItem
		var created int64
		err := rows.Scan(&it.ReservationID, &it.Op, &it.OrderID, &it.Tries, &it.LastError, &created)
		it.CreatedAt = time.UnixMilli(created).UTC()
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return out, nil
}

func (s *sqliteStore) Done(ctx context.Context, reservationID, op string) error {
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM order_outbox WHERE reservation_id = ? AND op = ?`, reservationID, op); err != nil {
		return fmt.Errorf("outbox done: %w", err)
	}
	return nil
}

func (s *sqliteStore) Tried(ctx context.Context, reservationID, op, lastError string) error {
	if len(lastError) > 500 {
		lastError = lastError[:500]
	}
	if _, err := s.DB.ExecContext(ctx, `UPDATE order_outbox SET tries = tries + 1, last_error = ? WHERE reservation_id = ? AND op = ?`,
		lastError, reservationID, op); err != nil {
		return fmt.Errorf("outbox tried: %w", err)
	}
	return nil
}

func (s *sqliteStore) History(ctx context.Context, after string, limit int) ([]History, error) {
	out := []History{}
	err := store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+cols+` FROM orders WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
		if err != nil {
			return fmt.Errorf("order history: %w", err)
		}
		byID := map[string]int{}
		for rows.Next() {
			r, err := scan(rows)
			if err != nil {
				rows.Close()
				return err
			}
			byID[r.ID] = len(out)
			out = append(out, History{Order: r.Order, IdempotencyKey: r.Key, Version: r.Version, Attempt: r.Attempt, Events: []Event{}})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("order history: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		ev, err := tx.QueryContext(ctx, `SELECT seq, order_id, from_status, to_status, attempt, version, at, actor, trace_id
			FROM order_events WHERE order_id >= ? AND order_id <= ? ORDER BY seq`, out[0].ID, out[len(out)-1].ID)
		if err != nil {
			return fmt.Errorf("order events: %w", err)
		}
		defer ev.Close()
		for ev.Next() {
			var e Event
			var id string
			var at int64
			if err := ev.Scan(&e.Seq, &id, &e.From, &e.To, &e.Attempt, &e.Version, &at, &e.Actor, &e.TraceID); err != nil {
				return fmt.Errorf("order events: %w", err)
			}
			e.At = time.UnixMilli(at).UTC()
			if i, ok := byID[id]; ok {
				out[i].Events = append(out[i].Events, e) // by the log's own seq
			}
		}
		return ev.Err()
	})
	return out, err
}

// actor is who made the change, a request unless it says otherwise.
func (ch Change) actor() string {
	if ch.Actor == "" {
		return ActorRequest
	}
	return ch.Actor
}

// queue writes what a transition of r to ch queues in order_outbox,
// whichever store writes it, each row through write: the releases it
// decided, then a charge to verify. It stops at the first error.
func (ch Change) queue(r Record, write func(reservation, op string) error) error {
	for _, res := range ch.Release {
		if err := write(res, OpRelease); err != nil {
			return err
		}
	}
	if ch.VerifyCharge {
		return write(ReservationID(r.ID, r.Attempt), OpVerifyCharge)
	}
	return nil
}
