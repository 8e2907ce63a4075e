package pgtest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/tooldirs"
)

// Required reports whether a missing PostgreSQL must fail the test rather
// than skip it (see the package doc): on CI, or as tooldirs.Required says.
func Required() bool {
	return os.Getenv("CI") != "" || tooldirs.Required()
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the test package's server, starting it on first use. A
// missing PostgreSQL skips the test (or fails it when Required).
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() {
		bin, err := FindBin(tooldirs.Dirs()...)
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.srv, shared.err = Start(ctx, bin)
	})
	check(tb, shared.err)
	return shared.srv
}

// check skips the test for a missing PostgreSQL (or fails it when
// Required), and fails it for any other error.
func check(tb testing.TB, err error) {
	tb.Helper()
	switch {
	case errors.Is(err, ErrMissing) && !Required():
		tb.Skipf("skipping: %v", err)
	case errors.Is(err, ErrMissing):
		tb.Fatalf("%v; tools are required here (CI, FAULTLAB_TOOLS or FAULTLAB_REQUIRE_TOOLS is set)", err)
	case err != nil:
		tb.Fatal(err)
	}
}

// Database returns the URL of a fresh, empty database on the shared server.
func Database(tb testing.TB) string {
	tb.Helper()
	url, err := Shared(tb).NewDatabase(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	return url
}

// Main runs the package's tests and stops the shared server, if one was
// started: call it from TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	return code
}

// Own starts a server for this test alone (one it may halt), stopped when
// the test ends. Missing PostgreSQL skips or fails the test as Shared does.
func Own(tb testing.TB) *Server {
	tb.Helper()
	bin, err := FindBin(tooldirs.Dirs()...)
	check(tb, err)
	srv, err := Start(tb.Context(), bin)
	check(tb, err)
	tb.Cleanup(srv.Stop)
	return srv
}
