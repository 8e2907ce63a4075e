package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/store/conformance"
	"github.com/faultlab/faultlab/services/payment"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func record(key, order string, at time.Time) payment.Record {
	return payment.Record{
		Payment: payment.Payment{ID: "pay-" + key, OrderID: order, UserID: "u1", AmountCents: 1250, Currency: "EUR",
			CreatedAt: at, UpdatedAt: at},
		Key: key, Fingerprint: "fp-" + key,
	}
}

// Run runs the suite against stores from backend.
func Run(t *testing.T, backend conformance.Backend[payment.Store]) {
	conformance.Run(t, backend,
		conformance.Case[payment.Store]{Name: "begin once per key", Test: beginOncePerKey},
		conformance.Case[payment.Store]{Name: "complete once", Test: completeOnce},
		conformance.Case[payment.Store]{Name: "take over only an expired claim", Test: takeOverExpired},
		conformance.Case[payment.Store]{Name: "lookups", Test: lookups},
		conformance.Case[payment.Store]{Name: "summary", Test: summary},
		conformance.Case[payment.Store]{Name: "two stores begin one key", Test: raceBegin},
		conformance.Case[payment.Store]{Name: "two stores take over one claim", Test: raceTakeOver},
	)
}

func beginOncePerKey(t *testing.T, open conformance.Open[payment.Store]) {
	s := open(t)
	ctx := t.Context()
	rec := record("k1", "o1", t0)
	got, created, err := s.Begin(ctx, rec, t0.Add(time.Second))
	if err != nil || !created || got.Status != payment.StatusProcessing || got.ID != rec.ID {
		t.Fatalf("first begin: %+v created=%v err=%v", got, created, err)
	}
	again := record("k1", "o1", t0.Add(time.Minute))
	again.ID = "pay-other"
	got, created, err = s.Begin(ctx, again, t0.Add(2*time.Minute))
	if err != nil || created {
		t.Fatalf("second begin: created=%v err=%v", created, err)
	}
	if got.ID != rec.ID || !got.CreatedAt.Equal(t0) || !got.LeaseUntil.Equal(t0.Add(time.Second)) || got.Fingerprint != "fp-k1" {
		t.Fatalf("second begin returned %+v, want the first row", got)
	}
}

func completeOnce(t *testing.T, open conformance.Open[payment.Store]) {
	s := open(t)
	ctx := t.Context()
	rec := record("k1", "o1", t0)
	if _, _, err := s.Begin(ctx, rec, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	rec.Status, rec.RespStatus, rec.RespBody, rec.UpdatedAt = payment.StatusSucceeded, 201, []byte(`{"id":"pay-k1"}`), t0.Add(time.Second)
	if done, err := s.Complete(ctx, rec); err != nil || !done {
		t.Fatalf("complete: %v %v", done, err)
	}
	late := rec
	late.Status, late.Reason = payment.StatusDeclined, "late"
	if done, err := s.Complete(ctx, late); err != nil || done {
		t.Fatalf("second complete: done=%v err=%v, want false", done, err)
	}
	got, err := s.ByKey(ctx, "k1")
	if err != nil || got.Status != payment.StatusSucceeded || got.RespStatus != 201 || string(got.RespBody) != `{"id":"pay-k1"}` ||
		!got.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("after complete: %+v %v", got, err)
	}
	if ok, err := s.TakeOver(ctx, "k1", t0.Add(time.Hour), t0.Add(2*time.Hour)); err != nil || ok {
		t.Fatalf("take over of a completed payment: %v %v", ok, err)
	}
}

func takeOverExpired(t *testing.T, open conformance.Open[payment.Store]) {
	s := open(t)
	ctx := t.Context()
	if _, _, err := s.Begin(ctx, record("k1", "o1", t0), t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TakeOver(ctx, "k1", t0.Add(9*time.Second), t0.Add(time.Minute)); err != nil || ok {
		t.Fatalf("take over of a live claim: %v %v", ok, err)
	}
	if ok, err := s.TakeOver(ctx, "k1", t0.Add(10*time.Second), t0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("take over at expiry: %v %v", ok, err)
	}
	if ok, err := s.TakeOver(ctx, "k1", t0.Add(30*time.Second), t0.Add(2*time.Minute)); err != nil || ok {
		t.Fatalf("take over of the new claim: %v %v", ok, err)
	}
	got, err := s.ByKey(ctx, "k1")
	if err != nil || !got.LeaseUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("lease after take over: %v %v", got.LeaseUntil, err)
	}
	if ok, err := s.TakeOver(ctx, "missing", t0, t0); err != nil || ok {
		t.Fatalf("take over of a missing key: %v %v", ok, err)
	}
}

func lookups(t *testing.T, open conformance.Open[payment.Store]) {
	s := open(t)
	ctx := t.Context()
	for i, k := range []string{"k3", "k1", "k2"} {
		if _, _, err := s.Begin(ctx, record(k, "o1", t0.Add(time.Duration(i)*time.Millisecond)), t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Begin(ctx, record("k4", "o2", t0), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ByKey(ctx, "nope"); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("ByKey missing: %v", err)
	}
	if _, err := s.ByID(ctx, "nope"); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("ByID missing: %v", err)
	}
	p, err := s.ByID(ctx, "pay-k2")
	if err != nil || p.OrderID != "o1" || p.AmountCents != 1250 || !p.CreatedAt.Equal(t0.Add(2*time.Millisecond)) {
		t.Fatalf("ByID: %+v %v", p, err)
	}
	byOrder, err := s.ByOrder(ctx, "o1")
	if err != nil || ids(byOrder) != "pay-k3,pay-k1,pay-k2" {
		t.Fatalf("ByOrder (by creation): %s %v", ids(byOrder), err)
	}
	if none, err := s.ByOrder(ctx, "o9"); err != nil || none == nil || len(none) != 0 {
		t.Fatalf("ByOrder of no payments: %#v %v, want an empty list", none, err)
	}
	page, err := s.Charges(ctx, "", 2)
	if err != nil || ids(page) != "pay-k1,pay-k2" {
		t.Fatalf("Charges page 1: %s %v", ids(page), err)
	}
	page, err = s.Charges(ctx, "pay-k2", 2)
	if err != nil || ids(page) != "pay-k3,pay-k4" {
		t.Fatalf("Charges page 2: %s %v", ids(page), err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func ids(ps []payment.Payment) string {
	out := ""
	for i, p := range ps {
		if i > 0 {
			out += ","
		}
		out += p.ID
	}
	return out
}

func summary(t *testing.T, open conformance.Open[payment.Store]) {
	s := open(t)
	ctx := t.Context()
	for _, c := range []struct{ key, order, status string }{
		{"a", "o1", payment.StatusSucceeded}, {"b", "o1", payment.StatusSucceeded},
		{"c", "o2", payment.StatusSucceeded}, {"d", "o3", payment.StatusDeclined}, {"e", "o4", ""},
	} {
		rec := record(c.key, c.order, t0)
		if _, _, err := s.Begin(ctx, rec, t0); err != nil {
			t.Fatal(err)
		}
		if c.status != "" {
			rec.Status = c.status
			if _, err := s.Complete(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	sum, err := s.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := payment.Summary{TotalCharges: 3, TotalAmount: 3750, Declined: 1, Processing: 1, DuplicateOrders: map[string]int{"o1": 2}}
	if fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Fatalf("summary %+v, want %+v", sum, want)
	}
}

// raceBegin: many requests with one key, spread over two stores on one
// database, insert exactly one row, and every one of them sees it.
func raceBegin(t *testing.T, open conformance.Open[payment.Store]) {
	var mu sync.Mutex
	seen := map[string]int{}
	created := conformance.Race(t, []payment.Store{open(t), open(t)}, 16, func(st payment.Store, i int) (bool, error) {
		rec := record("k1", "o1", t0)
		rec.ID = fmt.Sprintf("pay-%d", i)
		got, c, err := st.Begin(t.Context(), rec, t0.Add(time.Second))
		mu.Lock()
		seen[got.ID]++
		mu.Unlock()
		return c, err
	})
	if created != 1 || len(seen) != 1 {
		t.Fatalf("%d creations, ids seen %v: want one row for one key", created, seen)
	}
}

// raceTakeOver: of many callers taking over one expired claim through two
// stores, exactly one wins.
func raceTakeOver(t *testing.T, open conformance.Open[payment.Store]) {
	stores := []payment.Store{open(t), open(t)}
	if _, _, err := stores[0].Begin(t.Context(), record("k1", "o1", t0), t0); err != nil {
		t.Fatal(err)
	}
	won := conformance.Race(t, stores, 16, func(st payment.Store, _ int) (bool, error) {
		return st.TakeOver(t.Context(), "k1", t0.Add(time.Minute), t0.Add(2*time.Minute))
	})
	if won != 1 {
		t.Fatalf("%d callers took over one claim, want 1", won)
	}
}
