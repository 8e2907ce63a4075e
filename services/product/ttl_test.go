package product

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
)

// TestReservationsEndpoint: GET /internal/reservations lists reservations
// with their expiry, for the service key only.
func TestReservationsEndpoint(t *testing.T) {
	clock := kittest.NewClock()
	_, url := newTestService(t, Config{Base: kit.Base{Now: clock.Now}})
	c := NewClient(url, nil, kittest.Keys.Service)
	ctx := context.Background()
	if _, err := c.Reserve(ctx, "res-a", []Item{{ProductID: "prd_001", Quantity: 2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reserve(ctx, "res-b", []Item{{ProductID: "prd_002", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "res-b"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Reservations(ctx, StateReserved)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "res-a" || got[0].Items[0].Quantity != 2 || !got[0].ExpiresAt.Equal(clock.Now().Add(DefaultReservationTTL).Truncate(time.Millisecond).UTC()) {
		t.Fatalf("reserved: %+v", got)
	}
	if all, err := c.Reservations(ctx, ""); err != nil || len(all) != 2 {
		t.Fatalf("all: %+v %v", all, err)
	}
	kittest.WantRefused(t, url+RouteReservations,
		kittest.Refusal{Name: "gateway key", Query: "?state=reserved", Header: gw, Want: http.StatusForbidden},
		kittest.Refusal{Name: "no key", Query: "?state=reserved", Want: http.StatusUnauthorized},
		kittest.Refusal{Name: "bad state", Query: "?state=gone", Header: svc, Want: http.StatusBadRequest},
		kittest.Refusal{Name: "state twice", Query: "?state=reserved&state=committed", Header: svc, Want: http.StatusBadRequest})
}

// TestReservationTTL: product gives expired stock back itself; a repeated
// reserve renews; a commit after expiry takes the stock again if it is
// still there, and is refused (409) if it was sold meanwhile.
func TestReservationTTL(t *testing.T) {
	clock := kittest.NewClock()
	s, url := newTestService(t, Config{Base: kit.Base{Now: clock.Now}, ReservationTTL: time.Minute})
	c := NewClient(url, nil, kittest.Keys.Service)
	ctx := context.Background()
	level := func(id string) StockLevel {
		t.Helper()
		sum, err := c.Stock(ctx)
		if err != nil || !sum.Consistent {
			t.Fatalf("stock: %+v %v", sum, err)
		}
		for _, l := range sum.Products {
			if l.ProductID == id {
				return l
			}
		}
		t.Fatalf("no %s", id)
		return StockLevel{}
	}
	pillow := []Item{{ProductID: "prd_008", Quantity: 6}} // 10 in stock
	if _, err := c.Reserve(ctx, "ttl-1", pillow); err != nil {
		t.Fatal(err)
	}
	clock.Advance(50 * time.Second)
	// Renewed by a repeated reserve: it survives its first minute.
	if r, err := c.Reserve(ctx, "ttl-1", pillow); err != nil || r.State != StateReserved {
		t.Fatalf("renew: %+v %v", r, err)
	}
	clock.Advance(50 * time.Second)
	if n, err := s.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep of a renewed reservation: %d %v", n, err)
	}
	clock.Advance(11 * time.Second)
	if n, err := s.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if l := level("prd_008"); l.Available != 10 || l.Reserved != 0 {
		t.Fatalf("after expiry: %+v", l)
	}
	// Released after expiry: nothing more to give back.
	if r, err := c.Release(ctx, "ttl-1"); err != nil || r.State != StateExpired {
		t.Fatalf("release of expired: %+v %v", r, err)
	}
	// Committed after expiry while the stock is still there: taken again.
	if r, err := c.Commit(ctx, "ttl-1"); err != nil || r.State != StateCommitted {
		t.Fatalf("commit of expired: %+v %v", r, err)
	}
	if l := level("prd_008"); l.Available != 4 || l.Sold != 6 {
		t.Fatalf("after commit: %+v", l)
	}
	// Expired, and the stock sold meanwhile: the commit is refused.
	if _, err := c.Reserve(ctx, "ttl-2", []Item{{ProductID: "prd_008", Quantity: 3}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if _, err := c.Reserve(ctx, "ttl-3", []Item{{ProductID: "prd_008", Quantity: 3}}); err != nil { // sweeps ttl-2 first
		t.Fatal(err)
	}
	if _, err := c.Reserve(ctx, "ttl-4", []Item{{ProductID: "prd_008", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Commit(ctx, "ttl-2"); !errors.Is(err, ErrState) {
		t.Fatalf("commit of expired with its stock gone: %v, want 409", err)
	}
	// A repeated reserve of an expired one takes the stock again, or
	// says there is none.
	if _, err := c.Reserve(ctx, "ttl-2", []Item{{ProductID: "prd_008", Quantity: 3}}); !errors.Is(err, ErrInsufficientStock) {
		t.Fatalf("reserve again with the stock gone: %v", err)
	}
	if _, err := c.Release(ctx, "ttl-4"); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Reserve(ctx, "ttl-2", []Item{{ProductID: "prd_008", Quantity: 1}}); kit.StatusOf(err) != http.StatusUnprocessableEntity {
		t.Fatalf("reserve again with other items: %+v %v", r, err)
	}
	if l := level("prd_008"); l.Available != 1 || l.Reserved != 3 || l.Sold != 6 {
		t.Fatalf("end: %+v", l)
	}
}
