package store

import (
	"context"
	"database/sql"
	"testing"
)

func TestStrings(t *testing.T) {
	ctx := context.Background()
	db := memory(t, `CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER)`, `INSERT INTO t VALUES ('b', 2), ('a', 1), ('c', 3)`)
	got, err := Strings(ctx, db, `SELECT id FROM t WHERE n > ? ORDER BY id`, 1)
	if err != nil || len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Fatalf("Strings = %v, %v", got, err)
	}
	// Inside a transaction on the one connection, the next statement runs.
	var inTx []string
	err = Tx(ctx, db, func(tx *sql.Tx) error {
		if inTx, err = Strings(ctx, tx, `SELECT id FROM t ORDER BY id`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM t WHERE id = 'a'`)
		return err
	})
	if err != nil || len(inTx) != 3 {
		t.Fatalf("in a transaction: %v, %v", inTx, err)
	}
	if none, err := Strings(ctx, db, `SELECT id FROM t WHERE n > 10`); err != nil || none != nil {
		t.Fatalf("no rows: %v, %v", none, err)
	}
}

// TestAppendRows: rows are appended to the given slice, an empty (non-nil)
// one stays empty for none, and a scan error is the error, with no rows.
func TestAppendRows(t *testing.T) {
	ctx := context.Background()
	db := memory(t, `CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER)`, `INSERT INTO t VALUES ('b', 2), ('a', 1)`)
	n := func(rows *sql.Rows) (int, error) {
		var v int
		err := rows.Scan(&v)
		return v, err
	}
	got, err := AppendRows(ctx, db, []int{0}, `SELECT n FROM t ORDER BY n`, n)
	if err != nil || len(got) != 3 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("AppendRows = %v, %v", got, err)
	}
	if none, err := AppendRows(ctx, db, []int{}, `SELECT n FROM t WHERE n > 10`, n); err != nil || none == nil || len(none) != 0 {
		t.Fatalf("no rows: %#v, %v", none, err)
	}
	if bad, err := AppendRows(ctx, db, []int{}, `SELECT id FROM t`, n); err == nil || bad != nil {
		t.Fatalf("text into an int: %v, %v", bad, err)
	}
}

// memory opens a fresh in-memory database for the test and runs stmts.
func memory(t *testing.T, stmts ...string) *sql.DB {
	t.Helper()
	db, err := Open(context.Background(), "", "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(context.Background(), db, stmts...); err != nil {
		t.Fatal(err)
	}
	return db
}
