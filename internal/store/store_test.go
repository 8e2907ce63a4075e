package store

import (
	"context"
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
