package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/store/conformance"
	"github.com/faultlab/faultlab/services/order"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Run runs the suite against stores from backend.
func Run(t *testing.T, backend conformance.Backend[order.Store]) {
	type c = conformance.Case[order.Store]
	conformance.Run(t, backend,
		c{Name: "transitions are conditional", Test: transitionsAreConditional},
		c{Name: "begin once per user and key", Test: beginOncePerKey},
		c{Name: "leases", Test: leases},
		c{Name: "list by user", Test: listByUser},
		c{Name: "pending and outbox", Test: pendingAndOutbox},
		c{Name: "two stores begin one key", Test: raceBegin},
		c{Name: "two stores claim one order", Test: raceClaim},
		c{Name: "two stores transition one version", Test: raceTransition},
	)
}

func newRecord(id, key string, now time.Time) order.Record {
	return order.Record{
		Order: order.Order{ID: id, UserID: "usr_a", Status: order.StatusPending, Items: []order.Line{{ProductID: "prd_001", Quantity: 1}}, CreatedAt: now, UpdatedAt: now},
		Key:   key, Fingerprint: "fp", Attempt: 1,
	}
}

// transitionsAreConditional: a write names the status, version
// and lease it read; the store refuses it otherwise, never leaves a final
// state, and records one event per transition.
func transitionsAreConditional(t *testing.T, open conformance.Open[order.Store]) {
	ctx := t.Context()
	st := open(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rec, created, err := st.Begin(ctx, newRecord("ord_a", "k", now), "run_a", now.Add(10*time.Second), order.Change{Actor: order.ActorRequest, TraceID: "t1"})
	if err != nil || !created || rec.Version != 1 {
		t.Fatalf("begin: %+v %v %v", rec, created, err)
	}
	// Another run cannot claim it while the lease holds, and cannot write.
	if _, err := st.Claim(ctx, "ord_a", "run_b", now.Add(time.Second), now.Add(11*time.Second)); !errors.Is(err, order.ErrLeased) {
		t.Fatalf("claim under a live lease: %v", err)
	}
	priced := rec
	priced.TotalCents, priced.Currency = 1999, "EUR"
	if _, err := st.Transition(ctx, priced, order.StatusPending, "run_b", now, order.Change{}); !errors.Is(err, order.ErrConflict) {
		t.Fatalf("write without the lease: %v", err)
	}
	// The owner writes; a second write from the same old version loses.
	if rec, err = st.Transition(ctx, priced, order.StatusPending, "run_a", now, order.Change{Actor: order.ActorRequest}); err != nil || rec.Version != 2 {
		t.Fatalf("priced: %+v %v", rec, err)
	}
	if _, err := st.Transition(ctx, priced, order.StatusPending, "run_a", now, order.Change{}); !errors.Is(err, order.ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	// The lease ran out: the owner cannot write, another run claims it,
	// and the first can no longer extend it.
	late := now.Add(11 * time.Second)
	confirmed := rec
	confirmed.Status = order.StatusConfirmed
	if _, err := st.Transition(ctx, confirmed, order.StatusPending, "run_a", late, order.Change{}); !errors.Is(err, order.ErrConflict) {
		t.Fatalf("write after the lease ran out: %v", err)
	}
	if _, err := st.Claim(ctx, "ord_a", "run_b", late, late.Add(10*time.Second)); err != nil {
		t.Fatalf("claim after expiry: %v", err)
	}
	if _, err := st.Extend(ctx, "ord_a", "run_a", late.Add(10*time.Second)); !errors.Is(err, order.ErrLeased) {
		t.Fatalf("the old owner extended a lease it lost: %v", err)
	}
	if rec, err = st.Transition(ctx, confirmed, order.StatusPending, "run_b", late, order.Change{Actor: order.ActorReconciler}); err != nil || rec.Version != 3 {
		t.Fatalf("confirm: %+v %v", rec, err)
	}
	// Final: nothing moves it out, not even its owner at the right version.
	back := rec
	back.Status = order.StatusPending
	if _, err := st.Transition(ctx, back, order.StatusConfirmed, "run_b", late, order.Change{}); !errors.Is(err, order.ErrConflict) {
		t.Fatalf("left a final state: %v", err)
	}
	hs, err := st.History(ctx, "", 10)
	if err != nil || len(hs) != 1 {
		t.Fatalf("history: %+v %v", hs, err)
	}
	want := []string{"->pending", "pending->pending", "pending->confirmed"}
	if len(hs[0].Events) != len(want) {
		t.Fatalf("events: %+v", hs[0].Events)
	}
	for i, e := range hs[0].Events {
		if e.From+"->"+e.To != want[i] || e.Version != i+1 || (i > 0 && e.Seq <= hs[0].Events[i-1].Seq) {
			t.Fatalf("event %d: %+v, want %s", i, e, want[i])
		}
	}
	if hs[0].Events[2].Actor != order.ActorReconciler || hs[0].Events[0].TraceID != "t1" {
		t.Fatalf("actors: %+v", hs[0].Events)
	}
}

func beginOncePerKey(t *testing.T, open conformance.Open[order.Store]) {
	st := open(t)
	ctx := t.Context()
	first := newRecord("ord_a", "k", t0)
	first.Items = []order.Line{{ProductID: "prd_001", Quantity: 2, UnitPriceCents: 150}, {ProductID: "prd_002", Quantity: 1}}
	if _, created, err := st.Begin(ctx, first, "run_a", t0.Add(time.Second), order.Change{}); err != nil || !created {
		t.Fatalf("begin: %v %v", created, err)
	}
	got, created, err := st.Begin(ctx, newRecord("ord_b", "k", t0.Add(time.Minute)), "run_b", t0.Add(time.Hour), order.Change{})
	if err != nil || created {
		t.Fatalf("second begin: %v %v", created, err)
	}
	if got.ID != "ord_a" || got.LeaseOwner != "run_a" || !got.LeaseUntil.Equal(t0.Add(time.Second)) || !got.CreatedAt.Equal(t0) ||
		fmt.Sprint(got.Items) != fmt.Sprint(first.Items) || got.Version != 1 || got.Attempt != 1 {
		t.Fatalf("second begin returned %+v, want the first order untouched", got)
	}
	other := newRecord("ord_c", "k", t0)
	other.UserID = "usr_b"
	if _, created, err := st.Begin(ctx, other, "run_c", t0, order.Change{}); err != nil || !created {
		t.Fatalf("another user's key: %v %v", created, err)
	}
	if _, err := st.Get(ctx, "ord_x"); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
}

func leases(t *testing.T, open conformance.Open[order.Store]) {
	st := open(t)
	ctx := t.Context()
	if _, _, err := st.Begin(ctx, newRecord("ord_a", "k", t0), "run_a", t0.Add(10*time.Second), order.Change{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Claim(ctx, "ord_x", "run_b", t0, t0); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("claim of a missing order: %v", err)
	}
	got, err := st.Claim(ctx, "ord_a", "run_b", t0.Add(time.Second), t0.Add(20*time.Second))
	if !errors.Is(err, order.ErrLeased) || got.LeaseOwner != "run_a" {
		t.Fatalf("claim under a live lease: %+v %v", got, err)
	}
	if got, err = st.Claim(ctx, "ord_a", "run_a", t0.Add(time.Second), t0.Add(20*time.Second)); err != nil || !got.LeaseUntil.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("owner re-claims: %+v %v", got, err)
	}
	if got, err = st.Extend(ctx, "ord_a", "run_a", t0.Add(30*time.Second)); err != nil || !got.LeaseUntil.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("extend: %+v %v", got, err)
	}
	if err := st.Unlease(ctx, "ord_a", "run_b"); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.Get(ctx, "ord_a"); got.LeaseOwner != "run_a" {
		t.Fatalf("a stranger's unlease took the lease: %+v", got)
	}
	if err := st.Unlease(ctx, "ord_a", "run_a"); err != nil {
		t.Fatal(err)
	}
	if got, err = st.Claim(ctx, "ord_a", "run_b", t0, t0.Add(time.Second)); err != nil || got.LeaseOwner != "run_b" {
		t.Fatalf("claim after unlease: %+v %v", got, err)
	}
	if _, err = st.Extend(ctx, "ord_a", "run_a", t0.Add(time.Minute)); !errors.Is(err, order.ErrLeased) {
		t.Fatalf("extend by the old owner: %v", err)
	}
}

func listByUser(t *testing.T, open conformance.Open[order.Store]) {
	st := open(t)
	ctx := t.Context()
	// Two orders share a creation time: the id breaks the tie.
	for i, at := range []time.Duration{0, time.Second, time.Second, 2 * time.Second, 3 * time.Second} {
		if _, _, err := st.Begin(ctx, newRecord(fmt.Sprintf("ord_%d", i), fmt.Sprint("k", i), t0.Add(at)), "r", t0, order.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	after := order.Cursor{}
	for page := 0; ; page++ {
		got, more, total, err := st.ListByUser(ctx, "usr_a", 2, after)
		if err != nil || total != 5 || page > 3 {
			t.Fatalf("page %d: total %d err %v", page, total, err)
		}
		for _, o := range got {
			seen = append(seen, o.ID)
		}
		if !more {
			break
		}
		after = order.CursorAfter(got[len(got)-1])
	}
	if fmt.Sprint(seen) != "[ord_4 ord_3 ord_1 ord_2 ord_0]" {
		t.Fatalf("pages: %v", seen)
	}
	none, more, total, err := st.ListByUser(ctx, "usr_z", 2, order.Cursor{})
	if err != nil || none == nil || len(none) != 0 || more || total != 0 {
		t.Fatalf("a user without orders: %#v %v %d %v", none, more, total, err)
	}
}

func pendingAndOutbox(t *testing.T, open conformance.Open[order.Store]) {
	st := open(t)
	ctx := t.Context()
	for i, id := range []string{"ord_b", "ord_a", "ord_c"} {
		if _, _, err := st.Begin(ctx, newRecord(id, id, t0.Add(time.Duration(i)*time.Second)), "r", t0.Add(time.Minute), order.Change{}); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := st.Get(ctx, "ord_a")
	if err != nil {
		t.Fatal(err)
	}
	failed := rec
	failed.Status, failed.Reason, failed.RespStatus, failed.RespBody = order.StatusInterrupted, "payment_unavailable", 503, []byte(`{}`)
	failed.RetryAfter = 2 * time.Second
	ch := order.Change{Actor: order.ActorRequest, Release: []string{"ord_a-1"}, VerifyCharge: true}
	if _, err := st.Transition(ctx, failed, order.StatusPending, "r", t0, ch); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, "ord_a"); got.RetryAfter != 2*time.Second || got.RespStatus != 503 || got.Version != 2 {
		t.Fatalf("after transition: %+v", got)
	}
	ids, err := st.Pending(ctx)
	if err != nil || fmt.Sprint(ids) != "[ord_b ord_c]" {
		t.Fatalf("pending: %v %v", ids, err)
	}
	items, err := st.Outbox(ctx)
	if err != nil || len(items) != 2 {
		t.Fatalf("outbox: %+v %v", items, err)
	}
	ops := map[string]bool{}
	for _, it := range items {
		ops[it.Op] = it.ReservationID == order.ReservationID("ord_a", 1) && it.OrderID == "ord_a" && it.CreatedAt.Equal(t0)
	}
	if !ops[order.OpRelease] || !ops[order.OpVerifyCharge] {
		t.Fatalf("outbox items: %+v", items)
	}
	if err := st.Tried(ctx, order.ReservationID("ord_a", 1), order.OpRelease, "product down"); err != nil {
		t.Fatal(err)
	}
	if err := st.Done(ctx, order.ReservationID("ord_a", 1), order.OpVerifyCharge); err != nil {
		t.Fatal(err)
	}
	items, err = st.Outbox(ctx)
	if err != nil || len(items) != 1 || items[0].Op != order.OpRelease || items[0].Tries != 1 || items[0].LastError != "product down" {
		t.Fatalf("outbox after tried and done: %+v %v", items, err)
	}
}

// race runs n calls at once over two stores on one database.
func race(t *testing.T, open conformance.Open[order.Store], n int, call func(st order.Store, i int) (bool, error)) int {
	return conformance.Race(t, []order.Store{open(t), open(t)}, n, call)
}

func raceBegin(t *testing.T, open conformance.Open[order.Store]) {
	won := race(t, open, 16, func(st order.Store, i int) (bool, error) {
		_, created, err := st.Begin(t.Context(), newRecord(fmt.Sprint("ord_", i), "k", t0), fmt.Sprint("run_", i), t0.Add(time.Minute), order.Change{})
		return created, err
	})
	if won != 1 {
		t.Fatalf("%d orders for one key, want 1", won)
	}
}

func raceClaim(t *testing.T, open conformance.Open[order.Store]) {
	st := open(t)
	if _, _, err := st.Begin(t.Context(), newRecord("ord_a", "k", t0), "run_dead", t0, order.Change{}); err != nil {
		t.Fatal(err)
	}
	owners := make(chan string, 16)
	won := race(t, open, 16, func(st order.Store, i int) (bool, error) {
		now := t0.Add(time.Second)
		rec, err := st.Claim(t.Context(), "ord_a", fmt.Sprint("run_", i), now, now.Add(time.Minute))
		if errors.Is(err, order.ErrLeased) {
			return false, nil
		}
		owners <- rec.LeaseOwner
		return err == nil, err
	})
	if won != 1 {
		t.Fatalf("%d runs claimed one order, want 1", won)
	}
	got, err := st.Get(t.Context(), "ord_a")
	if owner := <-owners; err != nil || got.LeaseOwner != owner {
		t.Fatalf("lease owner %q, the winner %q (%v)", got.LeaseOwner, owner, err)
	}
}

func raceTransition(t *testing.T, open conformance.Open[order.Store]) {
	st := open(t)
	rec, _, err := st.Begin(t.Context(), newRecord("ord_a", "k", t0), "run_a", t0.Add(time.Minute), order.Change{})
	if err != nil {
		t.Fatal(err)
	}
	won := race(t, open, 16, func(st order.Store, i int) (bool, error) {
		next := rec
		next.Status, next.PaymentID = order.StatusConfirmed, fmt.Sprint("pay_", i)
		_, err := st.Transition(t.Context(), next, order.StatusPending, "run_a", t0, order.Change{Release: []string{fmt.Sprint("res_", i)}})
		if errors.Is(err, order.ErrConflict) {
			return false, nil
		}
		return err == nil, err
	})
	if won != 1 {
		t.Fatalf("%d writers moved one version, want 1", won)
	}
	hs, err := st.History(t.Context(), "", 10)
	if err != nil || len(hs) != 1 || len(hs[0].Events) != 2 || hs[0].Version != 2 {
		t.Fatalf("history after the race: %+v %v", hs, err)
	}
	items, err := st.Outbox(t.Context())
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox after the race: %+v %v (only the winner's release is queued)", items, err)
	}
}
