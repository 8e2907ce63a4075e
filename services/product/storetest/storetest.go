package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/store/conformance"
	"github.com/faultlab/faultlab/services/product"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Run runs the suite against stores from backend.
func Run(t *testing.T, backend conformance.Backend[product.Store]) {
	type c = conformance.Case[product.Store]
	conformance.Run(t, backend,
		c{Name: "catalogue", Test: catalogue},
		c{Name: "reserve all or nothing", Test: reserveAllOrNothing},
		c{Name: "release and commit", Test: releaseAndCommit},
		c{Name: "expiry", Test: expiry},
		c{Name: "two stores never oversell", Test: raceOversell},
		c{Name: "two stores reserve one id", Test: raceOneID},
	)
}

// seeded opens a store with products a (price 100, stock 10) and b
// (price 250, stock 5).
func seeded(t *testing.T, open conformance.Open[product.Store]) product.Store {
	st := open(t)
	for i, p := range []product.Product{
		{ID: "a", Name: "A", Description: "first", PriceCents: 100, Currency: "EUR", Stock: 10},
		{ID: "b", Name: "B", Description: "second", PriceCents: 250, Currency: "EUR", Stock: 5},
	} {
		p.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		if err := st.Create(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// levels is the stock split as "id:available/reserved/sold of initial".
func levels(t *testing.T, st product.Store) string {
	ls, err := st.Stock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, l := range ls {
		if l.Initial != l.Available+l.Reserved+l.Sold {
			t.Fatalf("split of %s is not whole: %+v", l.ProductID, l)
		}
		out += fmt.Sprintf("%s:%d/%d/%d ", l.ProductID, l.Available, l.Reserved, l.Sold)
	}
	return out
}

func catalogue(t *testing.T, open conformance.Open[product.Store]) {
	st := seeded(t, open)
	ctx := t.Context()
	if err := st.Create(ctx, product.Product{ID: "a", Name: "A", PriceCents: 1, Currency: "EUR", Stock: 1, CreatedAt: t0}); err == nil {
		t.Fatal("created a product id twice")
	}
	ps, total, err := st.List(ctx, 1, 1)
	if err != nil || total != 2 || len(ps) != 1 || ps[0].ID != "b" || ps[0].Stock != 5 || !ps[0].CreatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("list: %+v %d %v", ps, total, err)
	}
	p, err := st.Get(ctx, "a")
	if err != nil || p.Name != "A" || p.Description != "first" || p.PriceCents != 100 || p.Currency != "EUR" {
		t.Fatalf("get: %+v %v", p, err)
	}
	if _, err := st.Get(ctx, "z"); !errors.Is(err, product.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if n, err := st.Count(ctx); err != nil || n != 2 {
		t.Fatalf("count: %d %v", n, err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func reserveAllOrNothing(t *testing.T, open conformance.Open[product.Store]) {
	st := seeded(t, open)
	ctx := t.Context()
	items := []product.Item{{ProductID: "b", Quantity: 2}, {ProductID: "a", Quantity: 3}}
	r, created, err := st.Reserve(ctx, "r1", items, t0, t0.Add(time.Minute))
	if err != nil || !created || r.State != product.StateReserved || len(r.Items) != 2 ||
		r.Items[0] != (product.ReservedItem{ProductID: "b", Quantity: 2, UnitPriceCents: 250, Currency: "EUR"}) || !r.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("reserve: %+v %v %v", r, created, err)
	}
	again, created, err := st.Reserve(ctx, "r1", items, t0.Add(time.Second), t0.Add(2*time.Minute))
	if err != nil || created || fmt.Sprint(again.Items) != fmt.Sprint(r.Items) || !again.ExpiresAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("replay (renewed): %+v %v %v", again, created, err)
	}
	if _, _, err := st.Reserve(ctx, "r1", items[:1], t0, t0); !errors.Is(err, product.ErrKeyReused) {
		t.Fatalf("reused id: %v", err)
	}
	if _, _, err := st.Reserve(ctx, "r2", []product.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 4}}, t0, t0); !errors.Is(err, product.ErrInsufficientStock) {
		t.Fatalf("insufficient: %v", err)
	}
	if _, _, err := st.Reserve(ctx, "r3", []product.Item{{ProductID: "a", Quantity: 1}, {ProductID: "zz", Quantity: 1}}, t0, t0); !errors.Is(err, product.ErrUnknownProduct) {
		t.Fatalf("unknown: %v", err)
	}
	if got := levels(t, st); got != "a:7/3/0 b:3/2/0 " {
		t.Fatalf("a refused reservation leaked stock: %s", got)
	}
	all, err := st.Reservations(ctx, "")
	if err != nil || len(all) != 1 || all[0].ID != "r1" {
		t.Fatalf("only r1 exists: %+v %v", all, err)
	}
}

func releaseAndCommit(t *testing.T, open conformance.Open[product.Store]) {
	st := seeded(t, open)
	ctx := t.Context()
	for _, id := range []string{"r1", "r2"} {
		if _, _, err := st.Reserve(ctx, id, []product.Item{{ProductID: "a", Quantity: 2}}, t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []bool{true, false} {
		if r, changed, err := st.Release(ctx, "r1", t0.Add(time.Second)); err != nil || changed != want || r.State != product.StateReleased {
			t.Fatalf("release %d: %+v %v %v", i, r, changed, err)
		}
		if r, changed, err := st.Commit(ctx, "r2", t0.Add(time.Second)); err != nil || changed != want || r.State != product.StateCommitted {
			t.Fatalf("commit %d: %+v %v %v", i, r, changed, err)
		}
	}
	if _, _, err := st.Commit(ctx, "r1", t0); !errors.Is(err, product.ErrState) {
		t.Fatalf("commit after release: %v", err)
	}
	if _, _, err := st.Release(ctx, "r2", t0); !errors.Is(err, product.ErrState) {
		t.Fatalf("release after commit: %v", err)
	}
	if _, _, err := st.Release(ctx, "nope", t0); !errors.Is(err, product.ErrNotFound) {
		t.Fatalf("release missing: %v", err)
	}
	if got := levels(t, st); got != "a:8/0/2 b:5/0/0 " {
		t.Fatalf("levels: %s", got)
	}
	for state, want := range map[string]string{product.StateReleased: "r1", product.StateCommitted: "r2", product.StateReserved: ""} {
		rs, err := st.Reservations(ctx, state)
		if err != nil || len(rs) != len(want)/2 || (want != "" && (rs[0].ID != want || !rs[0].UpdatedAt.Equal(t0.Add(time.Second)))) {
			t.Fatalf("reservations %s: %+v %v", state, rs, err)
		}
	}
}

func expiry(t *testing.T, open conformance.Open[product.Store]) {
	st := seeded(t, open)
	ctx := t.Context()
	for i, id := range []string{"r1", "r2", "r3", "r4"} {
		if _, _, err := st.Reserve(ctx, id, []product.Item{{ProductID: "b", Quantity: 1}}, t0, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.Sweep(ctx, t0.Add(3*time.Minute)); err != nil || n != 3 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if n, err := st.Sweep(ctx, t0.Add(3*time.Minute)); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
	if got := levels(t, st); got != "a:10/0/0 b:4/1/0 " {
		t.Fatalf("after sweep: %s", got)
	}
	if r, changed, err := st.Release(ctx, "r1", t0); err != nil || changed || r.State != product.StateExpired {
		t.Fatalf("release of an expired reservation: %+v %v %v", r, changed, err)
	}
	if r, changed, err := st.Commit(ctx, "r2", t0.Add(4*time.Minute)); err != nil || !changed || r.State != product.StateCommitted {
		t.Fatalf("commit of an expired reservation (stock still there): %+v %v %v", r, changed, err)
	}
	r, created, err := st.Reserve(ctx, "r3", []product.Item{{ProductID: "b", Quantity: 1}}, t0.Add(4*time.Minute), t0.Add(9*time.Minute))
	if err != nil || created || r.State != product.StateReserved || !r.ExpiresAt.Equal(t0.Add(9*time.Minute)) {
		t.Fatalf("reserve again of an expired reservation: %+v %v %v", r, created, err)
	}
	if got := levels(t, st); got != "a:10/0/0 b:2/2/1 " {
		t.Fatalf("after retakes: %s", got)
	}
	// Sold out: an expired reservation cannot be taken again.
	if _, _, err := st.Reserve(ctx, "big", []product.Item{{ProductID: "b", Quantity: 2}}, t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Commit(ctx, "r1", t0); !errors.Is(err, product.ErrState) || !errors.Is(err, product.ErrInsufficientStock) {
		t.Fatalf("commit of an expired reservation, sold out: %v", err)
	}
	if _, _, err := st.Reserve(ctx, "r1", []product.Item{{ProductID: "b", Quantity: 1}}, t0, t0.Add(time.Hour)); !errors.Is(err, product.ErrInsufficientStock) {
		t.Fatalf("reserve again, sold out: %v", err)
	}
	if got := levels(t, st); got != "a:10/0/0 b:0/4/1 " {
		t.Fatalf("a refused retake moved stock: %s", got)
	}
}

// raceOversell: 12 reservations of 1 a and 1 b each, in both line orders,
// against 5 b: five succeed, the others are refused, nothing leaks, and a
// sweep racing commits leaves the split whole.
func raceOversell(t *testing.T, open conformance.Open[product.Store]) {
	stores := []product.Store{seeded(t, open), open(t)}
	won := conformance.Race(t, stores, 12, func(st product.Store, i int) (bool, error) {
		items := []product.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 1}}
		if i%2 == 1 {
			items[0], items[1] = items[1], items[0]
		}
		_, _, err := st.Reserve(t.Context(), fmt.Sprint("r", i), items, t0, t0.Add(time.Duration(i)*time.Second))
		if errors.Is(err, product.ErrInsufficientStock) {
			return false, nil
		}
		return err == nil, err
	})
	if won != 5 {
		t.Fatalf("%d reservations of 5 in stock", won)
	}
	if got := levels(t, stores[0]); got != "a:5/5/0 b:0/5/0 " {
		t.Fatalf("levels: %s", got)
	}
	conformance.Race(t, stores, 13, func(st product.Store, i int) (bool, error) {
		if i == 12 {
			_, err := st.Sweep(t.Context(), t0.Add(time.Hour))
			return err == nil, err
		}
		_, _, err := st.Commit(t.Context(), fmt.Sprint("r", i), t0.Add(time.Hour))
		if errors.Is(err, product.ErrNotFound) || errors.Is(err, product.ErrState) {
			return false, nil
		}
		return err == nil, err
	})
	levels(t, stores[0]) // whole, whichever won each race
}

func raceOneID(t *testing.T, open conformance.Open[product.Store]) {
	stores := []product.Store{seeded(t, open), open(t)}
	won := conformance.Race(t, stores, 12, func(st product.Store, i int) (bool, error) {
		_, created, err := st.Reserve(t.Context(), "r1", []product.Item{{ProductID: "b", Quantity: 1}}, t0, t0.Add(time.Minute))
		return created, err
	})
	if won != 1 {
		t.Fatalf("one id reserved %d times", won)
	}
	if got := levels(t, stores[0]); got != "a:10/0/0 b:4/1/0 " {
		t.Fatalf("levels: %s", got)
	}
}
