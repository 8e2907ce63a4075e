package pgtest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/faultlab/faultlab/internal/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestDatabasesAreFreshAndSeparate(t *testing.T) {
	ctx := t.Context()
	a, b := pgtest.Database(t), pgtest.Database(t)
	if a == b {
		t.Fatalf("one URL twice: %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, `CREATE TABLE kv (k text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	if _, err := cb.Exec(ctx, `CREATE TABLE kv (k text PRIMARY KEY)`); err != nil {
		t.Fatalf("second database shares the first: %v", err)
	}
	var v string
	if err := ca.QueryRow(ctx, `SHOW server_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL %s on port %d", v, pgtest.Shared(t).Port)
}

func TestPauseAndResume(t *testing.T) {
	srv := pgtest.Shared(t)
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(t.Context(), srv.URL)
	if err != nil {
		t.Fatalf("after resume: %v", err)
	}
	c.Close(t.Context())
}

// TestHaltAndRestart runs on a server of its own: the shared one stays up.
func TestHaltAndRestart(t *testing.T) {
	srv := pgtest.Own(t)
	url, err := srv.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(t.Context(), `CREATE TABLE kept (k int)`); err != nil {
		t.Fatal(err)
	}
	c.Close(t.Context())
	srv.Halt()
	if c, err := pgx.Connect(t.Context(), url); err == nil {
		c.Close(t.Context())
		t.Fatal("connected to a halted server")
	}
	if err := srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, err = pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	defer c.Close(t.Context())
	if _, err := c.Exec(t.Context(), `INSERT INTO kept VALUES (1)`); err != nil {
		t.Fatalf("the data did not survive the restart: %v", err)
	}
}

// TestFindBinFollowsLinks: a tools directory of links (what
// scripts/tools.sh makes, under root's 0700 home) yields the directory the
// links point to, which the user "postgres" can reach.
func TestFindBinFollowsLinks(t *testing.T) {
	real, err := pgtest.FindBin()
	if err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	links := t.TempDir()
	for _, b := range []string{"initdb", "postgres"} {
		if err := os.Symlink(filepath.Join(real, b), filepath.Join(links, b)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := pgtest.FindBin(links)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.EvalSymlinks(real)
	if got != want {
		t.Fatalf("FindBin(%s) = %s, want %s", links, got, want)
	}
}
