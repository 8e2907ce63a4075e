package product

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultlab/faultlab/internal/store"
)

// finish moves a reservation from reserved to state in one transaction,
// its row locked first; a no-op if it is already in state.
func (s *pgStore) finish(ctx context.Context, id, state, set string, now time.Time) (Reservation, bool, error) {
	var out Reservation
	var changed bool
	err := store.PGTx(ctx, s.DB, func(tx pgx.Tx) error {
		changed = false
		r, _, err := pgLoad(ctx, tx, id, true)
		if err != nil {
			return err
		}
		out = r
		switch {
		case r.State == state, r.State == StateExpired && state == StateReleased:
			return nil // done before, or its stock went back when it expired
		case r.State == StateExpired && state == StateCommitted:
			if _, err := move(ctx, tx, asItems(r), moveRetake, `available >= $2`); err != nil {
				return fmt.Errorf("%w: reservation %s expired: %w", ErrState, id, err)
			}
		case r.State == StateReserved:
			if _, err := move(ctx, tx, asItems(r), set, `true`); err != nil {
				return fmt.Errorf("%s: %w", state, err)
			}
		default:
			return fmt.Errorf("%w: reservation %s is %s", ErrState, id, r.State)
		}
		if _, err := tx.Exec(ctx, `UPDATE reservations SET state = $2, updated_at = $3 WHERE id = $1`, id, state, store.Millis(now)); err != nil {
			return fmt.Errorf("%s: %w", state, err)
		}
		out.State, out.UpdatedAt, changed = state, store.Millis(now), true
		return nil
	})
	return out, changed, err
}

func (s *pgStore) Release(ctx context.Context, id string, now time.Time) (Reservation, bool, error) {
	return s.finish(ctx, id, StateReleased, moveRelease, now)
}

func (s *pgStore) Commit(ctx context.Context, id string, now time.Time) (Reservation, bool, error) {
	return s.finish(ctx, id, StateCommitted, moveSell, now)
}

func (s *pgStore) Sweep(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := store.PGTx(ctx, s.DB, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM reservations WHERE state = $1 AND expires_at <= $2
			ORDER BY expires_at LIMIT 500 FOR UPDATE SKIP LOCKED`, StateReserved, store.Millis(now))
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			n = 0
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE products p SET reserved = reserved - due.q, available = available + due.q
			FROM (SELECT product_id, sum(quantity) AS q FROM reservation_items WHERE reservation_id = ANY($1)
				GROUP BY product_id) due
			WHERE p.id = due.product_id`, ids); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE reservations SET state = $2, updated_at = $3 WHERE id = ANY($1)`,
			ids, StateExpired, store.Millis(now)); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		n = len(ids)
		return nil
	})
	return n, err
}

func (s *pgStore) Reservations(ctx context.Context, state string) ([]Reservation, error) {
	out := []Reservation{}
	err := pgx.BeginTxFunc(ctx, s.DB, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM reservations WHERE $1 = '' OR state = $1 ORDER BY id`, state)
		if err != nil {
			return fmt.Errorf("reservations: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("reservations: %w", err)
		}
		for _, id := range ids {
			r, _, err := pgLoad(ctx, tx, id, false)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, store.PGError(err)
}

func (s *pgStore) Stock(ctx context.Context) ([]StockLevel, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, initial, available, reserved, sold FROM products ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("stock: %w", store.PGError(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[StockLevel])
	if err != nil {
		return nil, fmt.Errorf("stock: %w", store.PGError(err))
	}
	return out, nil
}
