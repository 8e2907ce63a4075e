package product

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/store"
)

// Domain errors.
var (
	ErrNotFound          = store.ErrNotFound
	ErrUnknownProduct    = errors.New("unknown product")
	ErrInsufficientStock = errors.New("insufficient stock")
	ErrKeyReused         = errors.New("reservation id reused with different items")
	ErrState             = errors.New("reservation is in the wrong state")
)

// Reservation states.
const (
	StateReserved  = "reserved"
	StateReleased  = "released"
	StateCommitted = "committed"
	// StateExpired: the reservation outlived its TTL and product gave its
	// stock back. A commit or a repeated reserve takes the stock again if
	// it is still there.
	StateExpired = "expired"
)

// Product is one catalogue entry; Stock is the quantity available.
type Product struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"price_cents"`
	Currency    string    `json:"currency"`
	Stock       int64     `json:"stock"`
	CreatedAt   time.Time `json:"created_at"`
}

// Item is one line of a reservation request.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// ReservedItem is one line of a reservation, priced when it was made.
type ReservedItem struct {
	ProductID      string `json:"product_id"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	Currency       string `json:"currency"`
}

// Reservation holds stock for an order.
type Reservation struct {
	ID        string         `json:"id"`
	State     string         `json:"state"`
	Items     []ReservedItem `json:"items"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	// ExpiresAt is when product releases a reservation still reserved.
	ExpiresAt time.Time `json:"expires_at"`
}

// StockLevel is the split of one product's stock.
type StockLevel struct {
	ProductID string `json:"product_id"`
	Initial   int64  `json:"initial"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// Store keeps products and reservations. Implementations must be safe for
// concurrent use and make Reserve, Release and Commit atomic.
type Store interface {
	List(ctx context.Context, limit, offset int) ([]Product, int, error)
	Get(ctx context.Context, id string) (Product, error)
	Create(ctx context.Context, p Product) error
	Count(ctx context.Context) (int, error)
	// Reserve reserves items under id until expires, or returns the
	// existing reservation (created false) if id was used before with the
	// same items: still reserved, it is renewed to expires; expired, its
	// stock is taken again if available (else ErrInsufficientStock).
	Reserve(ctx context.Context, id string, items []Item, now, expires time.Time) (r Reservation, created bool, err error)
	// Release gives a reservation's stock back (an expired one has none).
	Release(ctx context.Context, id string, now time.Time) (r Reservation, changed bool, err error)
	// Commit sells a reservation's stock; an expired one takes it again
	// if it is still available, else ErrState.
	Commit(ctx context.Context, id string, now time.Time) (r Reservation, changed bool, err error)
	// Sweep expires the reservations still reserved at now whose TTL has
	// passed, giving their stock back, and returns how many.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// Reservations lists reservations in state (all when empty).
	Reservations(ctx context.Context, state string) ([]Reservation, error)
	Stock(ctx context.Context) ([]StockLevel, error)
	store.Conn
}

type sqliteStore struct{ store.SQLite }

// OpenStore opens the SQLite store in dir (empty: in memory).
func OpenStore(ctx context.Context, dir string) (Store, error) {
	return store.OpenWith(ctx, dir, "product", migrate, func(db store.SQLite) Store { return &sqliteStore{db} })
}

// migrate creates or updates the schema of db.
func migrate(ctx context.Context, db *sql.DB) error {
	if err := store.Migrate(ctx, db,
		`CREATE TABLE IF NOT EXISTS products (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			id TEXT NOT NULL UNIQUE,
			name TEXT NOT NULL,
			description TEXT NOT NULL,
			price_cents INTEGER NOT NULL CHECK (price_cents > 0),
			currency TEXT NOT NULL,
			initial INTEGER NOT NULL,
			available INTEGER NOT NULL CHECK (available >= 0),
			reserved INTEGER NOT NULL CHECK (reserved >= 0),
			sold INTEGER NOT NULL CHECK (sold >= 0),
			created_at INTEGER NOT NULL,
			CHECK (initial = available + reserved + sold)
		)`,
		`CREATE TABLE IF NOT EXISTS reservations (
			id TEXT PRIMARY KEY,
			state TEXT NOT NULL,
			fingerprint TEXT NOT NULL,
			created_at INTEGER NOT NULL,
			updated_at INTEGER NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS reservation_items (
			reservation_id TEXT NOT NULL REFERENCES reservations(id),
			line INTEGER NOT NULL,
			product_id TEXT NOT NULL REFERENCES products(id),
			quantity INTEGER NOT NULL CHECK (quantity > 0),
			unit_price_cents INTEGER NOT NULL,
			currency TEXT NOT NULL,
			PRIMARY KEY (reservation_id, line)
		)`,
	); err != nil {
		return err
	}
	if err := store.AddColumn(ctx, db, "reservations", "expires_at", "INTEGER NOT NULL DEFAULT 0"); err != nil {
		return err
	}
	// Reservations made before TTLs existed get one from their last change.
	if err := store.Migrate(ctx, db,
		`CREATE INDEX IF NOT EXISTS reservations_state ON reservations(state, expires_at)`,
		fmt.Sprintf(`UPDATE reservations SET expires_at = updated_at + %d WHERE expires_at = 0`, DefaultReservationTTL.Milliseconds()),
	); err != nil {
		return err
	}
	return nil
}

const productCols = `id, name, description, price_cents, currency, available, created_at`

func scanProduct(sc interface{ Scan(...any) error }) (Product, error) {
	var p Product
	var created int64
	if err := sc.Scan(&p.ID, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &p.Stock, &created); err != nil {
		return Product{}, err
	}
	p.CreatedAt = time.UnixMilli(created).UTC()
	return p, nil
}

func (s *sqliteStore) List(ctx context.Context, limit, offset int) ([]Product, int, error) {
	var total int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM products`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list products: %w", err)
	}
	out, err := store.AppendRows(ctx, s.DB, []Product{}, `SELECT `+productCols+` FROM products ORDER BY seq LIMIT ? OFFSET ?`,
		func(rows *sql.Rows) (Product, error) { return scanProduct(rows) }, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list products: %w", err)
	}
	return out, total, nil
}

func (s *sqliteStore) Get(ctx context.Context, id string) (Product, error) {
	p, err := scanProduct(s.DB.QueryRowContext(ctx, `SELECT `+productCols+` FROM products WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, ErrNotFound
	}
	if err != nil {
		return Product{}, fmt.Errorf("get product: %w", err)
	}
	return p, nil
}

func (s *sqliteStore) Create(ctx context.Context, p Product) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO products
		(id, name, description, price_cents, currency, initial, available, reserved, sold, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)`,
		p.ID, p.Name, p.Description, p.PriceCents, p.Currency, p.Stock, p.Stock, p.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("create product: %w", err)
	}
	return nil
}

func (s *sqliteStore) Count(ctx context.Context) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM products`).Scan(&n)
	return n, err
}

func loadReservation(ctx context.Context, tx *sql.Tx, id string) (Reservation, string, error) {
	var r Reservation
	var fp string
	var created, updated, expires int64
	err := tx.QueryRowContext(ctx, `SELECT id, state, fingerprint, created_at, updated_at, expires_at FROM reservations WHERE id = ?`, id).
		Scan(&r.ID, &r.State, &fp, &created, &updated, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, "", ErrNotFound
	}
	if err != nil {
		return Reservation{}, "", fmt.Errorf("load reservation: %w", err)
	}
	r.CreatedAt, r.UpdatedAt, r.ExpiresAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC(), time.UnixMilli(expires).UTC()
	rows, err := tx.QueryContext(ctx, `SELECT product_id, quantity, unit_price_cents, currency
		FROM reservation_items WHERE reservation_id = ? ORDER BY line`, id)
	if err != nil {
		return Reservation{}, "", fmt.Errorf("load reservation: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it ReservedItem
		if err := rows.Scan(&it.ProductID, &it.Quantity, &it.UnitPriceCents, &it.Currency); err != nil {
			return Reservation{}, "", fmt.Errorf("load reservation: %w", err)
		}
		r.Items = append(r.Items, it)
	}
	return r, fp, rows.Err()
}

func (s *sqliteStore) Reserve(ctx context.Context, id string, items []Item, now, expires time.Time) (Reservation, bool, error) {
	fp := kit.Fingerprint(items)
	var out Reservation
	var created bool
	err := store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		r, oldFP, err := loadReservation(ctx, tx, id)
		switch {
		case err == nil:
			if oldFP != fp {
				return ErrKeyReused
			}
			switch r.State {
			case StateReserved:
				if expires.After(r.ExpiresAt) {
					if _, err := tx.ExecContext(ctx, `UPDATE reservations SET expires_at = ? WHERE id = ?`, expires.UnixMilli(), id); err != nil {
						return fmt.Errorf("renew: %w", err)
					}
					r.ExpiresAt = expires.UTC()
				}
			case StateExpired:
				if err := retake(ctx, tx, r, `UPDATE products SET available = available - ?, reserved = reserved + ? WHERE id = ?`); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE reservations SET state = ?, updated_at = ?, expires_at = ? WHERE id = ?`,
					StateReserved, now.UnixMilli(), expires.UnixMilli(), id); err != nil {
					return fmt.Errorf("reserve again: %w", err)
				}
				r.State, r.UpdatedAt, r.ExpiresAt = StateReserved, now.UTC(), expires.UTC()
			}
			out = r
			return nil
		case !errors.Is(err, ErrNotFound):
			return err
		}
		r = Reservation{ID: id, State: StateReserved, CreatedAt: now.UTC(), UpdatedAt: now.UTC(), ExpiresAt: expires.UTC()}
		for _, it := range items {
			var avail, price int64
			var cur string
			err := tx.QueryRowContext(ctx, `SELECT available, price_cents, currency FROM products WHERE id = ?`, it.ProductID).
				Scan(&avail, &price, &cur)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: %s", ErrUnknownProduct, it.ProductID)
			}
			if err != nil {
				return fmt.Errorf("reserve: %w", err)
			}
			if avail < it.Quantity {
				return fmt.Errorf("%w: %s has %d, %d requested", ErrInsufficientStock, it.ProductID, avail, it.Quantity)
			}
			r.Items = append(r.Items, ReservedItem{ProductID: it.ProductID, Quantity: it.Quantity, UnitPriceCents: price, Currency: cur})
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reservations (id, state, fingerprint, created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, StateReserved, fp, now.UnixMilli(), now.UnixMilli(), expires.UnixMilli()); err != nil {
			return fmt.Errorf("reserve: %w", err)
		}
		for i, it := range r.Items {
			if _, err := tx.ExecContext(ctx, `UPDATE products SET available = available - ?, reserved = reserved + ? WHERE id = ?`,
				it.Quantity, it.Quantity, it.ProductID); err != nil {
				return fmt.Errorf("reserve: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO reservation_items VALUES (?, ?, ?, ?, ?, ?)`,
				id, i, it.ProductID, it.Quantity, it.UnitPriceCents, it.Currency); err != nil {
				return fmt.Errorf("reserve: %w", err)
			}
		}
		out, created = r, true
		return nil
	})
	return out, created, err
}

// retake takes an expired reservation's stock from what is available
// again, applying move to each line, or fails with ErrInsufficientStock
// and changes nothing.
func retake(ctx context.Context, tx *sql.Tx, r Reservation, move string) error {
	for _, it := range r.Items {
		var avail int64
		if err := tx.QueryRowContext(ctx, `SELECT available FROM products WHERE id = ?`, it.ProductID).Scan(&avail); err != nil {
			return fmt.Errorf("retake: %w", err)
		}
		if avail < it.Quantity {
			return fmt.Errorf("%w: reservation %s expired and %s has %d, %d needed", ErrInsufficientStock, r.ID, it.ProductID, avail, it.Quantity)
		}
	}
	for _, it := range r.Items {
		if _, err := tx.ExecContext(ctx, move, it.Quantity, it.Quantity, it.ProductID); err != nil {
			return fmt.Errorf("retake: %w", err)
		}
	}
	return nil
}

// finish moves a reservation from reserved to state, applying move to each
// line's stock; it is a no-op if the reservation is already in state.
func (s *sqliteStore) finish(ctx context.Context, id, state, move string, now time.Time) (Reservation, bool, error) {
	var out Reservation
	var changed bool
	err := store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		r, _, err := loadReservation(ctx, tx, id)
		if err != nil {
			return err
		}
		switch {
		case r.State == state:
			out = r
			return nil
		case r.State == StateExpired && state == StateReleased:
			// Its stock went back when it expired.
			out = r
			return nil
		case r.State == StateExpired && state == StateCommitted:
			if err := retake(ctx, tx, r, `UPDATE products SET available = available - ?, sold = sold + ? WHERE id = ?`); err != nil {
				return fmt.Errorf("%w: %w", ErrState, err)
			}
		case r.State == StateReserved:
			for _, it := range r.Items {
				if _, err := tx.ExecContext(ctx, move, it.Quantity, it.Quantity, it.ProductID); err != nil {
					return fmt.Errorf("%s: %w", state, err)
				}
			}
		default:
			return fmt.Errorf("%w: reservation %s is %s", ErrState, id, r.State)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reservations SET state = ?, updated_at = ? WHERE id = ?`, state, now.UnixMilli(), id); err != nil {
			return fmt.Errorf("%s: %w", state, err)
		}
		r.State, r.UpdatedAt = state, now.UTC()
		out, changed = r, true
		return nil
	})
	return out, changed, err
}

func (s *sqliteStore) Release(ctx context.Context, id string, now time.Time) (Reservation, bool, error) {
	return s.finish(ctx, id, StateReleased, `UPDATE products SET reserved = reserved - ?, available = available + ? WHERE id = ?`, now)
}

func (s *sqliteStore) Commit(ctx context.Context, id string, now time.Time) (Reservation, bool, error) {
	return s.finish(ctx, id, StateCommitted, `UPDATE products SET reserved = reserved - ?, sold = sold + ? WHERE id = ?`, now)
}

func (s *sqliteStore) Sweep(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		ids, err := store.Strings(ctx, tx, `SELECT id FROM reservations WHERE state = ? AND expires_at <= ? ORDER BY expires_at LIMIT 500`,
			StateReserved, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		for _, id := range ids {
			r, _, err := loadReservation(ctx, tx, id)
			if err != nil {
				return err
			}
			for _, it := range r.Items {
				if _, err := tx.ExecContext(ctx, `UPDATE products SET reserved = reserved - ?, available = available + ? WHERE id = ?`,
					it.Quantity, it.Quantity, it.ProductID); err != nil {
					return fmt.Errorf("sweep: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE reservations SET state = ?, updated_at = ? WHERE id = ?`, StateExpired, now.UnixMilli(), id); err != nil {
				return fmt.Errorf("sweep: %w", err)
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

func (s *sqliteStore) Reservations(ctx context.Context, state string) ([]Reservation, error) {
	out := []Reservation{}
	err := store.Tx(ctx, s.DB, func(tx *sql.Tx) error {
		q := `SELECT id FROM reservations`
		var args []any
		if state != "" {
			q += ` WHERE state = ?`
			args = append(args, state)
		}
		ids, err := store.Strings(ctx, tx, q+` ORDER BY id`, args...)
		if err != nil {
			return fmt.Errorf("reservations: %w", err)
		}
		for _, id := range ids {
			r, _, err := loadReservation(ctx, tx, id)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func (s *sqliteStore) Stock(ctx context.Context) ([]StockLevel, error) {
	out, err := store.AppendRows(ctx, s.DB, []StockLevel{}, `SELECT id, initial, available, reserved, sold FROM products ORDER BY seq`,
		func(rows *sql.Rows) (StockLevel, error) {
			var l StockLevel
			err := rows.Scan(&l.ProductID, &l.Initial, &l.Available, &l.Reserved, &l.Sold)
			return l, err
		})
	if err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	return out, nil
}
