package order

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultlab/faultlab/internal/store"
)

// The read side of pgStore: lists, the outbox and the history.

func (s *pgStore) ListByUser(ctx context.Context, userID string, limit int, after Cursor) ([]Order, bool, int, error) {
	var total int
	if err := s.DB.QueryRow(ctx, `SELECT count(*) FROM orders WHERE user_id = $1`, userID).Scan(&total); err != nil {
		return nil, false, 0, fmt.Errorf("count orders: %w", store.PGError(err))
	}
	q := `SELECT ` + pgCols + ` FROM orders WHERE user_id = $1`
	args := []any{userID}
	if after.ID != "" {
		q += ` AND (created_at < $3 OR (created_at = $3 AND id > $4))`
		args = append(args, nil, time.UnixMilli(after.CreatedAt).UTC(), after.ID)
	} else {
		args = append(args, nil)
	}
	args[1] = limit + 1
	rows, err := s.DB.Query(ctx, q+` ORDER BY created_at DESC, id LIMIT $2`, args...)
	if err != nil {
		return nil, false, 0, fmt.Errorf("list orders: %w", store.PGError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) {
		r, err := pgScan(row)
		return r.Order, err
	})
	if err != nil {
		return nil, false, 0, fmt.Errorf("list orders: %w", store.PGError(err))
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, total, nil
}

func (s *pgStore) Pending(ctx context.Context) ([]string, error) {
	rows, err := s.DB.Query(ctx, `SELECT id FROM orders WHERE status = $1 ORDER BY created_at, id`, StatusPending)
	if err != nil {
		return nil, fmt.Errorf("pending orders: %w", store.PGError(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pending orders: %w", store.PGError(err))
	}
	return ids, nil
}

func (s *pgStore) Outbox(ctx context.Context) ([]OutboxItem, error) {
	rows, err := s.DB.Query(ctx, `SELECT reservation_id, op, order_id, tries, last_error, created_at
		FROM order_outbox ORDER BY created_at, reservation_id`)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", store.PGError(err))
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutboxItem, error) {
		var it OutboxItem
		err := row.Scan(&it.ReservationID, &it.Op, &it.OrderID, &it.Tries, &it.LastError, &it.CreatedAt)
		it.CreatedAt = it.CreatedAt.UTC()
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", store.PGError(err))
	}
	return items, nil
}

func (s *pgStore) Done(ctx context.Context, reservationID, op string) error {
	if _, err := s.DB.Exec(ctx, `DELETE FROM order_outbox WHERE reservation_id = $1 AND op = $2`, reservationID, op); err != nil {
		return fmt.Errorf("outbox done: %w", store.PGError(err))
	}
	return nil
}

func (s *pgStore) Tried(ctx context.Context, reservationID, op, lastError string) error {
	if len(lastError) > 500 {
		lastError = lastError[:500]
	}
	if _, err := s.DB.Exec(ctx, `UPDATE order_outbox SET tries = tries + 1, last_error = $1 WHERE reservation_id = $2 AND op = $3`,
		lastError, reservationID, op); err != nil {
		return fmt.Errorf("outbox tried: %w", store.PGError(err))
	}
	return nil
}

func (s *pgStore) History(ctx context.Context, after string, limit int) ([]History, error) {
	out := []History{}
	err := pgx.BeginTxFunc(ctx, s.DB, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+pgCols+` FROM orders WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
		if err != nil {
			return fmt.Errorf("order history: %w", err)
		}
		recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) { return pgScan(row) })
		if err != nil {
			return fmt.Errorf("order history: %w", err)
		}
		byID := map[string]int{}
		ids := make([]string, 0, len(recs))
		for _, r := range recs {
			byID[r.ID] = len(out)
			ids = append(ids, r.ID)
			out = append(out, History{Order: r.Order, IdempotencyKey: r.Key, Version: r.Version, Attempt: r.Attempt, Events: []Event{}})
		}
		if len(ids) == 0 {
			return nil
		}
		ev, err := tx.Query(ctx, `SELECT seq, order_id, from_status, to_status, attempt, version, at, actor, trace_id
			FROM order_events WHERE order_id = ANY($1) ORDER BY seq`, ids)
		if err != nil {
			return fmt.Errorf("order events: %w", err)
		}
		defer ev.Close()
		for ev.Next() {
			var e Event
			var id string
			if err := ev.Scan(&e.Seq, &id, &e.From, &e.To, &e.Attempt, &e.Version, &e.At, &e.Actor, &e.TraceID); err != nil {
				return fmt.Errorf("order events: %w", err)
			}
			e.At = e.At.UTC()
			out[byID[id]].Events = append(out[byID[id]].Events, e)
		}
		return ev.Err()
	})
	return out, store.PGError(err)
}
