package conformance

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
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

// Case is one test of a suite.
type Case[S io.Closer] struct {
	Name string
	Test func(t *testing.T, open Open[S])
}

// Run runs each case as a subtest, on a fresh database of backend.
func Run[S io.Closer](t *testing.T, backend Backend[S], cases ...Case[S]) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { c.Test(t, backend(t)) })
	}
}

// Both runs suite against SQLite stores (a service's OpenStore) and
// PostgreSQL stores (its OpenPGStore), as subtests "sqlite" and
// "postgres".
func Both[S io.Closer](t *testing.T, sqlite, postgres func(ctx context.Context, where string) (S, error),
	suite func(t *testing.T, backend Backend[S])) {
	t.Run("sqlite", func(t *testing.T) { suite(t, SQLite(sqlite)) })
	t.Run("postgres", func(t *testing.T) { suite(t, Postgres(postgres)) })
}

// Race runs n calls at once, call i on stores[i%len(stores)], and returns
// how many reported success; an error fails the test.
func Race[S any](t *testing.T, stores []S, n int, call func(st S, i int) (bool, error)) int {
	var wg sync.WaitGroup
	var won atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := call(stores[i%len(stores)], i)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(won.Load())
}
