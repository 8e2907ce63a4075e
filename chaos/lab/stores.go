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
	"github.com/faultlab/faultlab/topology"
)

// StoreSnapshot reads a history.Snapshot straight from the SQLite files of
// a lab's DataDir (order.db, payment.db, product.db), read-only, while the
// services run: the history check's view from below the APIs. Orders get
// their version and events where the store keeps them (order_events, with
// the log's own seq, as GET /internal/orders gives them).
func StoreSnapshot(ctx context.Context, dataDir string) (history.Snapshot, error) {
	var snap history.Snapshot
	err := withDB(ctx, dataDir, topology.Order, func(db *sql.Tx) error {
		rows, err := db.QueryContext(ctx, `SELECT id, user_id, idem_key, status, reason, items, total_cents, currency, payment_id, created_at, updated_at FROM orders ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o history.Order
			var items string
			var created, updated int64
			if err := rows.Scan(&o.ID, &o.UserID, &o.IdempotencyKey, &o.Status, &o.Reason, &items, &o.TotalCents, &o.Currency, &o.PaymentID, &created, &updated); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(items), &o.Items); err != nil {
				return fmt.Errorf("order %s: items: %w", o.ID, err)
			}
			o.CreatedAt, o.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
			snap.Orders = append(snap.Orders, o)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return readEvents(ctx, db, snap.Orders)
	})
	if err != nil {
		return snap, err
	}
	err = withDB(ctx, dataDir, topology.Payment, func(db *sql.Tx) error {
		rows, err := db.QueryContext(ctx, `SELECT id, order_id, user_id, amount, currency, status, reason, created_at, updated_at FROM payments ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c history.Charge
			var created, updated int64
			if err := rows.Scan(&c.ID, &c.OrderID, &c.UserID, &c.AmountCents, &c.Currency, &c.Status, &c.Reason, &created, &updated); err != nil {
				return err
			}
			c.CreatedAt, c.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
			snap.Charges = append(snap.Charges, c)
		}
		return rows.Err()
	})
	if err != nil {
		return snap, err
	}
	err = withDB(ctx, dataDir, topology.Product, func(db *sql.Tx) error {
		rows, err := db.QueryContext(ctx, `SELECT id, initial, available, reserved, sold FROM products ORDER BY id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var l history.StockLevel
			if err := rows.Scan(&l.ProductID, &l.Initial, &l.Available, &l.Reserved, &l.Sold); err != nil {
				rows.Close()
				return err
			}
			snap.Stock = append(snap.Stock, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = db.QueryContext(ctx, `SELECT r.id, r.state, i.product_id, i.quantity FROM reservations r
			JOIN reservation_items i ON i.reservation_id = r.id WHERE r.state = ? ORDER BY r.id, i.line`, history.ReservationHeld)
		if err != nil {
			return err
		}
		defer rows.Close()
		snap.Reservations = []history.Reservation{}
		for rows.Next() {
			var id, state string
			var it history.ReservedItem
			if err := rows.Scan(&id, &state, &it.ProductID, &it.Quantity); err != nil {
				return err
			}
			if n := len(snap.Reservations); n == 0 || snap.Reservations[n-1].ID != id {
				snap.Reservations = append(snap.Reservations, history.Reservation{ID: id, State: state})
			}
			r := &snap.Reservations[len(snap.Reservations)-1]
			r.Items = append(r.Items, it)
		}
		return rows.Err()
	})
	return snap, err
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
