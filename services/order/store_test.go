package order

import (
	"context"
	"testing"

	"github.com/faultlab/faultlab/internal/store"
)

// TestStoreMigratesRetryableFailures: a store written before interrupted
// existed opens with the new columns, and its retryable failures are
// interrupted runs, not final ones.
func TestStoreMigratesRetryableFailures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, dir, "order")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE orders (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, idem_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
			status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', items TEXT NOT NULL, total_cents INTEGER NOT NULL DEFAULT 0,
			currency TEXT NOT NULL DEFAULT '', payment_id TEXT NOT NULL DEFAULT '', attempt INTEGER NOT NULL DEFAULT 1,
			resp_status INTEGER NOT NULL DEFAULT 0, resp_body BLOB, retryable INTEGER NOT NULL DEFAULT 0,
			created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (user_id, idem_key))`,
		`INSERT INTO orders (id, user_id, idem_key, fingerprint, status, reason, items, retryable, created_at, updated_at)
			VALUES ('ord_r', 'u', 'k1', 'f', 'failed', 'payment_unavailable', '[]', 1, 1, 1),
			       ('ord_d', 'u', 'k2', 'f', 'failed', 'payment_declined', '[]', 0, 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st, err := OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for id, want := range map[string]string{"ord_r": StatusInterrupted, "ord_d": StatusFailed} {
		r, err := st.Get(ctx, id)
		if err != nil || r.Status != want || r.Version != 1 {
			t.Fatalf("%s: %+v %v, want %s", id, r, err, want)
		}
	}
}
