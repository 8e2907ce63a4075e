package store

import (
	"context"
	"database/sql"
	"testing"
)

func TestOpenPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, "t")
	if err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, db, `CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO kv VALUES ('a','1')`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, dir, "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var v string
	if err := db.QueryRowContext(ctx, `SELECT v FROM kv WHERE k='a'`).Scan(&v); err != nil || v != "1" {
		t.Fatalf("after reopen: v=%q err=%v", v, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode=%q err=%v", mode, err)
	}
}

func TestInMemoryIsPrivate(t *testing.T) {
	ctx := context.Background()
	a, err := Open(ctx, "", "t")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, "", "t")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := Migrate(ctx, a, `CREATE TABLE x (k TEXT)`); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, b, `CREATE TABLE x (k TEXT)`); err != nil {
		t.Fatalf("second in-memory database shares the first: %v", err)
	}
}

func TestAddColumnIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := memory(t, `CREATE TABLE kv (k TEXT PRIMARY KEY)`, `INSERT INTO kv VALUES ('a')`)
	for range 2 {
		if err := AddColumn(ctx, db, "kv", "v", "INTEGER NOT NULL DEFAULT 7"); err != nil {
			t.Fatal(err)
		}
	}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = 'a'`).Scan(&v); err != nil || v != 7 {
		t.Fatalf("v = %d, %v", v, err)
	}
}

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
