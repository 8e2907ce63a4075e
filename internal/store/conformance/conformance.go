package conformance

import (
	"context"
	"io"
	"testing"

	"github.com/faultlab/faultlab/internal/store/pgtest"
)

// Open opens another store on the test's database.
type Open[S io.Closer] func(tb testing.TB) S

// Backend makes an empty database for one test and returns how to open
// stores on it.
type Backend[S io.Closer] func(tb testing.TB) Open[S]

// SQLite is a Backend of SQLite stores (open is a service's OpenStore) in a
// temporary directory.
func SQLite[S io.Closer](open func(ctx context.Context, dir string) (S, error)) Backend[S] {
	return func(tb testing.TB) Open[S] {
		return opener(tb.TempDir(), open)
	}
}

// Postgres is a Backend of PostgreSQL stores (open is a service's
// OpenPGStore) in a fresh database of the shared server.
func Postgres[S io.Closer](open func(ctx context.Context, url string) (S, error)) Backend[S] {
	return func(tb testing.TB) Open[S] {
		return opener(pgtest.Database(tb), open)
	}
}

func opener[S io.Closer](where string, open func(ctx context.Context, where string) (S, error)) Open[S] {
	return func(tb testing.TB) S {
		tb.Helper()
		s, err := open(context.Background(), where)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = s.Close() })
		return s
	}
}
