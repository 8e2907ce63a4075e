package order

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/store"
)

func newRecord(id, key string, now time.Time) Record {
	return Record{
		Order: Order{ID: id, UserID: "usr_a", Status: StatusPending, Items: []Line{{ProductID: "prd_001", Quantity: 1}}, CreatedAt: now, UpdatedAt: now},
		Key:   key, Fingerprint: "fp", Attempt: 1,
	}
}

// TestStoreTransitionsAreConditional: a write names the status, version
// and lease it read; the store refuses it otherwise, never leaves a final
// state, and records one event per transition.
func TestStoreTransitionsAreConditional(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rec, created, err := st.Begin(ctx, newRecord("ord_a", "k", now), "run_a", now.Add(10*time.Second), Change{Actor: ActorRequest, TraceID: "t1"})
	if err != nil || !created || rec.Version != 1 {
		t.Fatalf("begin: %+v %v %v", rec, created, err)
	}
	// Another run cannot claim it while the lease holds, and cannot write.
	if _, err := st.Claim(ctx, "ord_a", "run_b", now.Add(time.Second), now.Add(11*time.Second)); !errors.Is(err, ErrLeased) {
		t.Fatalf("claim under a live lease: %v", err)
	}
	priced := rec
	priced.TotalCents, priced.Currency = 1999, "EUR"
	if _, err := st.Transition(ctx, priced, StatusPending, "run_b", now, Change{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("write without the lease: %v", err)
	}
	// The owner writes; a second write from the same old version loses.
	if rec, err = st.Transition(ctx, priced, StatusPending, "run_a", now, Change{Actor: ActorRequest}); err != nil || rec.Version != 2 {
		t.Fatalf("priced: %+v %v", rec, err)
	}
	if _, err := st.Transition(ctx, priced, StatusPending, "run_a", now, Change{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	// The lease ran out: the owner cannot write, another run claims it,
	// and the first can no longer extend it.
	late := now.Add(11 * time.Second)
	confirmed := rec
	confirmed.Status = StatusConfirmed
	if _, err := st.Transition(ctx, confirmed, StatusPending, "run_a", late, Change{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("write after the lease ran out: %v", err)
	}
	if _, err := st.Claim(ctx, "ord_a", "run_b", late, late.Add(10*time.Second)); err != nil {
		t.Fatalf("claim after expiry: %v", err)
	}
	if _, err := st.Extend(ctx, "ord_a", "run_a", late.Add(10*time.Second)); !errors.Is(err, ErrLeased) {
		t.Fatalf("the old owner extended a lease it lost: %v", err)
	}
	if rec, err = st.Transition(ctx, confirmed, StatusPending, "run_b", late, Change{Actor: ActorReconciler}); err != nil || rec.Version != 3 {
		t.Fatalf("confirm: %+v %v", rec, err)
	}
	// Final: nothing moves it out, not even its owner at the right version.
	back := rec
	back.Status = StatusPending
	if _, err := st.Transition(ctx, back, StatusConfirmed, "run_b", late, Change{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("left a final state: %v", err)
	}
	hs, err := st.History(ctx, "", 10)
	if err != nil || len(hs) != 1 {
		t.Fatalf("history: %+v %v", hs, err)
	}
	want := []string{"->pending", "pending->pending", "pending->confirmed"}
	if len(hs[0].Events) != len(want) {
		t.Fatalf("events: %+v", hs[0].Events)
	}
	for i, e := range hs[0].Events {
		if e.From+"->"+e.To != want[i] || e.Version != i+1 || (i > 0 && e.Seq <= hs[0].Events[i-1].Seq) {
			t.Fatalf("event %d: %+v, want %s", i, e, want[i])
		}
	}
	if hs[0].Events[2].Actor != ActorReconciler || hs[0].Events[0].TraceID != "t1" {
		t.Fatalf("actors: %+v", hs[0].Events)
	}
}

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
