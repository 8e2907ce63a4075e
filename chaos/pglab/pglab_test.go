package pglab_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
	"github.com/faultlab/faultlab/internal/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestStateLivesInPostgres: a lab on PostgreSQL takes an order; a second
// lab on the same database (another "host": its own data directory) sees
// the user, the order, the charge and the stock, and a replay of the key
// there is the same order, not a second charge.
func TestStateLivesInPostgres(t *testing.T) {
	ctx := t.Context()
	db := pgtest.Database(t)
	l1 := labtest.Start(t, lab.Config{DatabaseURL: db})
	tok := labtest.Token(t, l1)
	status, id, _ := labtest.Order(t, l1, tok, "pg-1")
	if status != http.StatusCreated || id == "" {
		t.Fatalf("order: %d %q", status, id)
	}
	charges1, err := l1.Charges(ctx)
	if err != nil || charges1.Total != 1 {
		t.Fatalf("charges %+v %v", charges1, err)
	}
	stock1, err := l1.Stock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}

	l2 := labtest.Start(t, lab.Config{DatabaseURL: db})
	tok2, err := l2.Token(ctx)
	if err != nil {
		t.Fatalf("login on the second lab: %v", err)
	}
	if status, again, _ := labtest.Order(t, l2, tok2, "pg-1"); again != id || status >= 300 {
		t.Fatalf("replay on the second lab: %d %s, want order %s", status, again, id)
	}
	charges2, err := l2.Charges(ctx)
	if err != nil || charges2 != charges1 {
		t.Fatalf("charges on the second lab %+v (%v), first %+v", charges2, err, charges1)
	}
	if stock2, err := l2.Stock(ctx); err != nil || stock2 != stock1 {
		t.Fatalf("stock on the second lab %+v (%v), first %+v", stock2, err, stock1)
	}
}

// TestDatabaseDown halts PostgreSQL under a running lab: an order placed
// meanwhile is refused with 503 and Retry-After (never a 500, never a
// charge without an order), and once the database is back the same key
// places it; nothing is charged twice and no stock is lost.
func TestDatabaseDown(t *testing.T) {
	ctx := t.Context()
	srv := pgtest.Own(t)
	db, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := labtest.Start(t, lab.Config{DatabaseURL: db})
	tok := labtest.Token(t, l)
	if status, _, _ := labtest.Order(t, l, tok, "before"); status != http.StatusCreated {
		t.Fatalf("order before the outage: %d", status)
	}
	srv.Halt()
	for _, key := range []string{"down-1", "down-1", "down-2"} {
		status, _, retry := labtest.Order(t, l, tok, key)
		if status != http.StatusServiceUnavailable || retry == "" {
			t.Fatalf("order %s while the database is down: %d, Retry-After %q; want 503 with Retry-After", key, status, retry)
		}
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	placeAll(t, l, tok, []string{"down-1", "down-2"}, 30*time.Second, "the database came back")
	if stock := settled(t, l, 3, "the outage"); stock.Reserved != 0 {
		t.Fatalf("stock %+v: want none held", stock)
	}
}

// placeAll replays each key until its order is placed (201, or 200 for a
// replay of one placed already), failing the test if one is not within
// the time after the event named by after.
func placeAll(t *testing.T, l *lab.Lab, tok string, keys []string, within time.Duration, after string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, key := range keys {
		for {
			status, _, _ := labtest.Order(t, l, tok, key)
			if status == http.StatusCreated || status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %s after %s: still %d", key, after, status)
			}
			time.Sleep(100 * time.Millisecond) // poll: breakers and leases run on their own clocks
		}
	}
}

// settled reconciles l after the event named by after, wants n orders
// charged once each and n sold with no stock lost, and returns the stock
// for the test's own checks.
func settled(t *testing.T, l *lab.Lab, n int, after string) chaos.StockSummary {
	t.Helper()
	ctx := t.Context()
	if err := l.Reconcile(ctx); err != nil {
		t.Fatalf("reconcile after %s: %v", after, err)
	}
	charges, err := l.Charges(ctx)
	if err != nil || charges.Total != n || charges.Duplicates != 0 {
		t.Fatalf("charges %+v (%v): want %d orders charged once each", charges, err, n)
	}
	stock, err := l.Stock(ctx)
	if err != nil || !stock.Consistent() || stock.Sold != n {
		t.Fatalf("stock %+v (%v): want %d sold, none lost", stock, err, n)
	}
	return stock
}
