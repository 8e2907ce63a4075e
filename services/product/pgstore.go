package product

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// pgStore keeps products and reservations in PostgreSQL, schema "product".
// Each Reserve, Release, Commit and Sweep is one READ COMMITTED
// transaction: the reservation row is taken first (inserted, or locked
// with FOR UPDATE), then each product's stock moves by a conditional
// UPDATE (… WHERE available >= quantity), in product id order so that two
// reservations never lock the same products in opposite orders. The sweep
// takes due reservations with FOR UPDATE SKIP LOCKED, leaving those that a
// request is committing or releasing right now to that request.
type pgStore struct{ store.PG }

// OpenPGStore opens the PostgreSQL store at url (postgres://…), applying
// the embedded migrations to schema "product".
func OpenPGStore(ctx context.Context, url string) (Store, error) {
	return store.OpenPGWith(ctx, url, "product", migrations, func(db store.PG) Store { return &pgStore{db} })
}

func (s *pgStore) List(ctx context.Context, limit, offset int) ([]Product, int, error) {
	var total int
	if err := s.DB.QueryRow(ctx, `SELECT count(*) FROM products`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list products: %w", store.PGError(err))
	}
	rows, err := s.DB.Query(ctx, `SELECT `+productCols+` FROM products ORDER BY seq LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list products: %w", store.PGError(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Product, error) { return pgScanProduct(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("list products: %w", store.PGError(err))
	}
	return out, total, nil
}

func pgScanProduct(row pgx.Row) (Product, error) {
	var p Product
	err := row.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &p.Stock, &p.CreatedAt)
	p.CreatedAt = p.CreatedAt.UTC()
	return p, err
}

func (s *pgStore) Get(ctx context.Context, id string) (Product, error) {
	p, err := pgScanProduct(s.DB.QueryRow(ctx, `SELECT `+productCols+` FROM products WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, ErrNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("get product: %w", store.PGError(err))
	}
	return p, nil
}

func (s *pgStore) Create(ctx context.Context, p Product) error {
	_, err := s.DB.Exec(ctx, `INSERT INTO products
		(id, name, description, price_cents, currency, initial, available, reserved, sold, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6, 0, 0, $7)`,
		p.ID, p.Name, p.Description, p.PriceCents, p.Currency, p.Stock, store.Millis(p.CreatedAt))
	if err != nil {
		return fmt.Errorf("create product: %w", store.PGError(err))
	}
	return nil
}

func (s *pgStore) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.DB.QueryRow(ctx, `SELECT count(*) FROM products`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count products: %w", store.PGError(err))
	}
	return n, nil
}

// pgLoad reads a reservation and its lines; lock takes its row for the
// rest of the transaction.
func pgLoad(ctx context.Context, tx pgx.Tx, id string, lock bool) (Reservation, string, error) {
	q := `SELECT id, state, fingerprint, created_at, updated_at, expires_at FROM reservations WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	var r Reservation
	var fp string
	err := tx.QueryRow(ctx, q, id).Scan(&r.ID, &r.State, &fp, &r.CreatedAt, &r.UpdatedAt, &r.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Reservation{}, "", ErrNotFound
	}
	if err != nil {
		return Reservation{}, "", fmt.Errorf("load reservation: %w", err)
	}
	r.CreatedAt, r.UpdatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC(), r.ExpiresAt.UTC()
	rows, err := tx.Query(ctx, `SELECT product_id, quantity, unit_price_cents, currency
		FROM reservation_items WHERE reservation_id = $1 ORDER BY line`, id)
	if err != nil {
		return Reservation{}, "", fmt.Errorf("load reservation: %w", err)
	}
	r.Items, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ReservedItem])
	if err != nil {
		return Reservation{}, "", fmt.Errorf("load reservation: %w", err)
	}
	return r, fp, nil
}

// Stock moves: each takes quantity from one column and gives it to another.
const (
	moveReserve = `available = available - $2, reserved = reserved + $2`
	moveRetake  = `available = available - $2, sold = sold + $2`
	moveRelease = `reserved = reserved - $2, available = available + $2`
	moveSell    = `reserved = reserved - $2, sold = sold + $2`
)

// move applies set to each line's product, in product id order, with the
// condition cond (e.g. available >= $2); a line whose product does not meet
// it fails with ErrInsufficientStock (or ErrUnknownProduct), naming it.
// It returns each line's product price and currency, by line.
func move(ctx context.Context, tx pgx.Tx, lines []Item, set, cond string) ([]ReservedItem, error) {
	order := make([]int, len(lines))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return lines[order[a]].ProductID < lines[order[b]].ProductID })
	out := make([]ReservedItem, len(lines))
	for _, i := range order {
		it := lines[i]
		err := tx.QueryRow(ctx, `UPDATE products SET `+set+` WHERE id = $1 AND `+cond+` RETURNING price_cents, currency`,
			it.ProductID, it.Quantity).Scan(&out[i].UnitPriceCents, &out[i].Currency)
		if errors.Is(err, pgx.ErrNoRows) {
			var avail int64
			if err := tx.QueryRow(ctx, `SELECT available FROM products WHERE id = $1`, it.ProductID).Scan(&avail); errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("%w: %s", ErrUnknownProduct, it.ProductID)
			}
			return nil, fmt.Errorf("%w: %s has %d, %d requested", ErrInsufficientStock, it.ProductID, avail, it.Quantity)
		}
		if err != nil {
			return nil, fmt.Errorf("stock of %s: %w", it.ProductID, err)
		}
		out[i].ProductID, out[i].Quantity = it.ProductID, it.Quantity
	}
	return out, nil
}

func asItems(r Reservation) []Item {
	out := make([]Item, len(r.Items))
	for i, it := range r.Items {
		out[i] = Item{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return out
}

func (s *pgStore) Reserve(ctx context.Context, id string, items []Item, now, expires time.Time) (Reservation, bool, error) {
	fp := kit.Fingerprint(items)
	var out Reservation
	var created bool
	err := store.PGTx(ctx, s.DB, func(tx pgx.Tx) error {
		out, created = Reservation{}, false
		tag, err := tx.Exec(ctx, `INSERT INTO reservations (id, state, fingerprint, created_at, updated_at, expires_at)
			VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (id) DO NOTHING`, id, StateReserved, fp, store.Millis(now), store.Millis(expires))
		if err != nil {
			return fmt.Errorf("reserve: %w", err)
		}
		if tag.RowsAffected() == 0 {
			out, err = again(ctx, tx, id, fp, now, expires)
			return err
		}
		lines, err := move(ctx, tx, items, moveReserve, `available >= $2`)
		if err != nil {
			return err
		}
		for i, it := range lines {
			if _, err := tx.Exec(ctx, `INSERT INTO reservation_items VALUES ($1, $2, $3, $4, $5, $6)`,
				id, i, it.ProductID, it.Quantity, it.UnitPriceCents, it.Currency); err != nil {
				return fmt.Errorf("reserve: %w", err)
			}
		}
		out = Reservation{ID: id, State: StateReserved, Items: lines, CreatedAt: store.Millis(now), UpdatedAt: store.Millis(now), ExpiresAt: store.Millis(expires)}
		created = true
		return nil
	})
	return out, created, err
}

// again answers a Reserve of an id used before (its row locked): renewed
// if still reserved, taken again if expired, else as it is.
func again(ctx context.Context, tx pgx.Tx, id, fp string, now, expires time.Time) (Reservation, error) {
	r, oldFP, err := pgLoad(ctx, tx, id, true)
	if err != nil {
		return Reservation{}, err
	}
	if oldFP != fp {
		return Reservation{}, ErrKeyReused
	}
	switch r.State {
	case StateReserved:
		if expires.After(r.ExpiresAt) {
			if _, err := tx.Exec(ctx, `UPDATE reservations SET expires_at = $2 WHERE id = $1`, id, store.Millis(expires)); err != nil {
				return Reservation{}, fmt.Errorf("renew: %w", err)
			}
			r.ExpiresAt = store.Millis(expires)
		}
	case StateExpired:
		if _, err := move(ctx, tx, asItems(r), moveReserve, `available >= $2`); err != nil {
			return Reservation{}, fmt.Errorf("reservation %s expired: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE reservations SET state = $2, updated_at = $3, expires_at = $4 WHERE id = $1`,
			id, StateReserved, store.Millis(now), store.Millis(expires)); err != nil {
			return Reservation{}, fmt.Errorf("reserve again: %w", err)
		}
		r.State, r.UpdatedAt, r.ExpiresAt = StateReserved, store.Millis(now), store.Millis(expires)
	}
	return r, nil
}
