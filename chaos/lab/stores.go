package lab

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the stores' driver

	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/internal/store"
	"github.com/faultlab/faultlab/topology"
)

// StoreSnapshot reads a history.Snapshot straight from the SQLite files of
// a lab's DataDir (order.db, payment.db, product.db), read-only, while the
// services run: the history check's view from below the APIs. Orders get
// their version and events where the store keeps them (order_events, with
// the log's own seq, as GET /internal/orders gives them).
func StoreSnapshot(ctx context.Context, dataDir string) (history.Snapshot, error) {
	var snap history.Snapshot
	err := withDB(ctx, dataDir, topology.Order, func(tx *sql.Tx) (err error) {
		if snap.Orders, err = readOrders(ctx, tx); err != nil {
			return err
		}
		return readEvents(ctx, tx, snap.Orders)
	})
	if err != nil {
		return snap, err
	}
	err = withDB(ctx, dataDir, topology.Payment, func(tx *sql.Tx) (err error) {
		snap.Charges, err = readCharges(ctx, tx)
		return err
	})
	if err != nil {
		return snap, err
	}
	err = withDB(ctx, dataDir, topology.Product, func(tx *sql.Tx) (err error) {
		if snap.Stock, err = readStock(ctx, tx); err != nil {
			return err
		}
		snap.Reservations, err = readReservations(ctx, tx)
		return err
	})
	return snap, err
}

func readOrders(ctx context.Context, tx *sql.Tx) ([]history.Order, error) {
	return store.Rows(ctx, tx, `SELECT id, user_id, idem_key, status, reason, items, total_cents, currency, payment_id, created_at, updated_at FROM orders ORDER BY id`,
		func(rows *sql.Rows) (history.Order, error) {
			var o history.Order
			var items string
			var created, updated int64
			if err := rows.Scan(&o.ID, &o.UserID, &o.IdempotencyKey, &o.Status, &o.Reason, &items, &o.TotalCents, &o.Currency, &o.PaymentID, &created, &updated); err != nil {
				return o, err
			}
			if err := json.Unmarshal([]byte(items), &o.Items); err != nil {
				return o, fmt.Errorf("order %s: items: %w", o.ID, err)
			}
			o.CreatedAt, o.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
			return o, nil
		})
}

func readCharges(ctx context.Context, tx *sql.Tx) ([]history.Charge, error) {
	return store.Rows(ctx, tx, `SELECT id, order_id, user_id, amount, currency, status, reason, created_at, updated_at FROM payments ORDER BY id`,
		func(rows *sql.Rows) (history.Charge, error) {
			var c history.Charge
			var created, updated int64
			err := rows.Scan(&c.ID, &c.OrderID, &c.UserID, &c.AmountCents, &c.Currency, &c.Status, &c.Reason, &created, &updated)
			c.CreatedAt, c.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
			return c, err
		})
}

func readStock(ctx context.Context, tx *sql.Tx) ([]history.StockLevel, error) {
	return store.Rows(ctx, tx, `SELECT id, initial, available, reserved, sold FROM products ORDER BY id`,
		func(rows *sql.Rows) (history.StockLevel, error) {
			var l history.StockLevel
			err := rows.Scan(&l.ProductID, &l.Initial, &l.Available, &l.Reserved, &l.Sold)
			return l, err
		})
}

// readReservations reads the held reservations, their items in line order.
func readReservations(ctx context.Context, tx *sql.Tx) ([]history.Reservation, error) {
	type line struct {
		id, state string
		it        history.ReservedItem
	}
	lines, err := store.Rows(ctx, tx, `SELECT r.id, r.state, i.product_id, i.quantity FROM reservations r
			JOIN reservation_items i ON i.reservation_id = r.id WHERE r.state = ? ORDER BY r.id, i.line`,
		func(rows *sql.Rows) (line, error) {
			var ln line
			err := rows.Scan(&ln.id, &ln.state, &ln.it.ProductID, &ln.it.Quantity)
			return ln, err
		}, history.ReservationHeld)
	if err != nil {
		return nil, err
	}
	out := []history.Reservation{}
	for _, ln := range lines {
		if n := len(out); n == 0 || out[n-1].ID != ln.id {
			out = append(out, history.Reservation{ID: ln.id, State: ln.state})
		}
		r := &out[len(out)-1]
		r.Items = append(r.Items, ln.it)
	}
	return out, nil
}

// readEvents fills in each order's version and events from order_events,
// if the store has that table.
func readEvents(ctx context.Context, tx *sql.Tx, orders []history.Order) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'order_events'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	byID := make(map[string]*history.Order, len(orders))
	for i := range orders {
		byID[orders[i].ID] = &orders[i]
		orders[i].Events = []history.Event{}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, version FROM orders`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return err
		}
		if o := byID[id]; o != nil {
			o.Version = v
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, `SELECT seq, order_id, from_status, to_status, attempt, version, at, actor, trace_id FROM order_events ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e history.Event
		var id string
		var at int64
		if err := rows.Scan(&e.Seq, &id, &e.From, &e.To, &e.Attempt, &e.Version, &at, &e.Actor, &e.TraceID); err != nil {
			return err
		}
		e.At = time.UnixMilli(at).UTC()
		if o := byID[id]; o != nil {
			o.Events = append(o.Events, e)
		}
	}
	return rows.Err()
}

func withDB(ctx context.Context, dir, name string, f func(*sql.Tx) error) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(dir, name+".db"))+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("lab: %s store: %w", name, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// One read transaction: the tables are read at one point in time.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("lab: %s store: %w", name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := f(tx); err != nil {
		return fmt.Errorf("lab: %s store: %w", name, err)
	}
	return nil
}
