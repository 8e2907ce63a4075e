package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/store"
	"github.com/faultlab/faultlab/internal/store/conformance"
	"github.com/faultlab/faultlab/services/user"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Run runs the suite against stores from backend.
func Run(t *testing.T, backend conformance.Backend[user.Store]) {
	conformance.Run(t, backend,
		conformance.Case[user.Store]{Name: "accounts", Test: accounts},
		conformance.Case[user.Store]{Name: "two stores sign one email up", Test: raceEmail})
}

func accounts(t *testing.T, open conformance.Open[user.Store]) {
	st := open(t)
	ctx := t.Context()
	want := user.User{ID: "usr_1", Email: "a@example.com", PasswordHash: "hash", Roles: []string{"customer", "admin"}, CreatedAt: t0}
	if err := st.CreateUser(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := st.UserByEmail(ctx, "a@example.com")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("user by email: %+v %v, want %+v", got, err, want)
	}
	if _, err := st.UserByEmail(ctx, "b@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}
	if n, err := st.CountUsers(ctx); err != nil || n != 1 {
		t.Fatalf("count: %d %v", n, err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func raceEmail(t *testing.T, open conformance.Open[user.Store]) {
	stores := []user.Store{open(t), open(t)}
	won := conformance.Race(t, stores, 8, func(st user.Store, i int) (bool, error) {
		u := user.User{ID: fmt.Sprint("usr_", i), Email: "a@example.com", PasswordHash: "h", Roles: []string{"customer"}, CreatedAt: t0}
		return st.CreateUser(t.Context(), u) == nil, nil
	})
	if n, err := stores[0].CountUsers(t.Context()); won != 1 || n != 1 || err != nil {
		t.Fatalf("%d sign-ups of one email succeeded, %d accounts (%v)", won, n, err)
	}
}
