package history

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)

func ev(seq int, from, to string, version int) Event {
	return Event{Seq: seq, From: from, To: to, Attempt: 1, Version: version, At: t0.Add(time.Duration(seq) * time.Millisecond), Actor: "request"}
}

// clean is a quiet shop after three keys: k1 confirmed at once, k2 refused
// with 402, k3 answered 503 then confirmed on a replay, and k4 interrupted
// (no answer the client kept, no charge, no stock).
func clean() ([]Op, Snapshot) {
	confirmedEvents := []Event{ev(1, "", StatusPending, 1), ev(2, StatusPending, StatusConfirmed, 2)}
	ops := []Op{
		{Key: "k1", Items: []Item{{"p1", 2}}, Start: t0, End: t0.Add(time.Millisecond), Attempt: 1, Status: http.StatusCreated,
			OrderID: "ord_1", OrderStatus: StatusConfirmed, TotalCents: 200, Currency: "EUR", PaymentID: "pay_1", AckItems: []Item{{"p1", 2}}},
		{Key: "k2", Items: []Item{{"p2", 1}}, Start: t0, End: t0.Add(time.Millisecond), Attempt: 1, Status: http.StatusPaymentRequired},
		{Key: "k3", Items: []Item{{"p1", 1}, {"p2", 1}}, Start: t0, End: t0.Add(time.Millisecond), Attempt: 1, Status: http.StatusServiceUnavailable},
		{Key: "k3", Items: []Item{{"p1", 1}, {"p2", 1}}, Start: t0.Add(time.Second), End: t0.Add(time.Second), Attempt: 2, Replay: true, Status: http.StatusCreated,
			OrderID: "ord_3", OrderStatus: StatusConfirmed, TotalCents: 350, Currency: "EUR", PaymentID: "pay_3"},
		{Key: "k4", Items: []Item{{"p1", 1}}, Start: t0, End: t0.Add(time.Millisecond), Attempt: 1, Err: "connection reset"},
	}
	snap := Snapshot{
		Orders: []Order{
			{ID: "ord_1", UserID: "u1", Status: StatusConfirmed, Items: []Line{{"p1", 2, 100}}, TotalCents: 200, Currency: "EUR", PaymentID: "pay_1",
				IdempotencyKey: "k1", Version: 2, Events: confirmedEvents},
			{ID: "ord_2", UserID: "u1", Status: StatusFailed, Reason: "payment declined", Items: []Line{{"p2", 1, 250}}, TotalCents: 250, Currency: "EUR",
				IdempotencyKey: "k2", Version: 2, Events: []Event{ev(1, "", StatusPending, 1), ev(2, StatusPending, StatusFailed, 2)}},
			{ID: "ord_3", UserID: "u2", Status: StatusConfirmed, Items: []Line{{"p1", 1, 100}, {"p2", 1, 250}}, TotalCents: 350, Currency: "EUR", PaymentID: "pay_3",
				IdempotencyKey: "k3", Version: 4, Events: []Event{ev(1, "", StatusPending, 1), ev(2, StatusPending, "interrupted", 2), ev(3, "interrupted", StatusPending, 3), ev(4, StatusPending, StatusConfirmed, 4)}},
			{ID: "ord_4", UserID: "u2", Status: "interrupted", Items: []Line{{"p1", 1, 100}}, TotalCents: 100, Currency: "EUR",
				IdempotencyKey: "k4", Version: 2, Events: []Event{ev(1, "", StatusPending, 1), ev(2, StatusPending, "interrupted", 2)}},
		},
		Charges: []Charge{
			{ID: "pay_1", OrderID: "ord_1", UserID: "u1", AmountCents: 200, Currency: "EUR", Status: ChargeSucceeded},
			{ID: "pay_2", OrderID: "ord_2", UserID: "u1", AmountCents: 250, Currency: "EUR", Status: ChargeDeclined},
			{ID: "pay_3", OrderID: "ord_3", UserID: "u2", AmountCents: 350, Currency: "EUR", Status: ChargeSucceeded},
		},
		Stock: []StockLevel{
			{ProductID: "p1", Initial: 10, Available: 7, Reserved: 0, Sold: 3},
			{ProductID: "p2", Initial: 5, Available: 4, Reserved: 0, Sold: 1},
		},
		Reservations: []Reservation{},
	}
	return ops, snap
}

func order(s *Snapshot, id string) *Order {
	for i := range s.Orders {
		if s.Orders[i].ID == id {
			return &s.Orders[i]
		}
	}
	panic("no order " + id)
}

func level(s *Snapshot, p string) *StockLevel {
	for i := range s.Stock {
		if s.Stock[i].ProductID == p {
			return &s.Stock[i]
		}
	}
	panic("no product " + p)
}

// pend turns ord_1 into a pending order still holding its reservation.
func pend(s *Snapshot) {
	o := order(s, "ord_1")
	o.Status, o.PaymentID, o.Version, o.Events = StatusPending, "", 1, o.Events[:1]
	s.Charges = s.Charges[1:]
	l := level(s, "p1")
	l.Sold, l.Reserved = l.Sold-2, l.Reserved+2
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ops *[]Op, s *Snapshot)
		want   []string // "kind order-or-product"
	}{
		{"clean", func(*[]Op, *Snapshot) {}, nil},
		{"no ops, quiet stores", func(ops *[]Op, _ *Snapshot) { *ops = nil }, nil},
		{"empty snapshot, no ops", func(ops *[]Op, s *Snapshot) { *ops, *s = nil, Snapshot{} }, nil},
		{"lost ack: order missing", func(_ *[]Op, s *Snapshot) {
			s.Orders = s.Orders[1:]
			s.Charges = s.Charges[1:]
			level(s, "p1").Sold -= 2
			level(s, "p1").Available += 2
		}, []string{"lost-ack ord_1"}},
		{"lost ack: confirmed order back to pending (issue 10 #1)", func(_ *[]Op, s *Snapshot) {
			o := order(s, "ord_1")
			o.Status, o.Version = StatusPending, 3
			o.Events = append(o.Events, ev(3, StatusConfirmed, StatusPending, 3))
			l := level(s, "p1")
			l.Sold, l.Reserved = l.Sold-2, 2
		}, []string{"left-final-state ord_1", "lost-ack ord_1", "pending-after-quiescence ord_1", "charge-without-order ord_1"}},
		{"lost ack on a replay", func(_ *[]Op, s *Snapshot) {
			o := order(s, "ord_3")
			o.Status, o.Version, o.Events = StatusFailed, 4, append(o.Events[:3:3], ev(4, StatusPending, StatusFailed, 4))
			s.Charges = s.Charges[:2]
			level(s, "p1").Sold--
			level(s, "p1").Available++
			level(s, "p2").Sold--
			level(s, "p2").Available++
		}, []string{"lost-ack ord_3"}},
		{"changed ack: total and currency zeroed (issue 10 #3)", func(_ *[]Op, s *Snapshot) {
			o := order(s, "ord_1")
			o.TotalCents, o.Currency = 0, ""
		}, []string{"amount-mismatch ord_1", "changed-ack ord_1"}},
		{"changed ack: items", func(_ *[]Op, s *Snapshot) {
			order(s, "ord_3").Items = []Line{{"p1", 2, 100}}
			level(s, "p1").Sold++
			level(s, "p1").Available--
			level(s, "p2").Sold--
			level(s, "p2").Available++
		}, []string{"changed-ack ord_3"}},
		{"changed ack: payment id", func(ops *[]Op, _ *Snapshot) { (*ops)[0].PaymentID = "pay_9" }, []string{"changed-ack ord_1"}},
		{"changed ack: the answer's items", func(ops *[]Op, _ *Snapshot) { (*ops)[0].AckItems = []Item{{"p1", 3}} }, []string{"changed-ack ord_1"}},
		{"charged after refusal", func(_ *[]Op, s *Snapshot) {
			s.Charges[1].Status = ChargeSucceeded
		}, []string{"charged-after-refusal ord_2"}},
		{"confirmed after refusal", func(_ *[]Op, s *Snapshot) {
			o := order(s, "ord_2")
			o.Status, o.PaymentID, o.Version = StatusConfirmed, "pay_2", 3
			o.Events = append(o.Events[:1:1], ev(2, StatusPending, StatusConfirmed, 2))
			o.Version = 2
			s.Charges[1].Status = ChargeSucceeded
			level(s, "p2").Sold++
			level(s, "p2").Available--
		}, []string{"charged-after-refusal ord_2"}},
		{"charge without order: order missing", func(_ *[]Op, s *Snapshot) {
			s.Charges = append(s.Charges, Charge{ID: "pay_x", OrderID: "ord_x", AmountCents: 10, Currency: "EUR", Status: ChargeSucceeded})
		}, []string{"charge-without-order ord_x"}},
		{"charge without order: interrupted order charged", func(_ *[]Op, s *Snapshot) {
			s.Charges = append(s.Charges, Charge{ID: "pay_4", OrderID: "ord_4", AmountCents: 100, Currency: "EUR", Status: ChargeSucceeded})
		}, []string{"charge-without-order ord_4"}},
		{"declined charge on an interrupted order is fine", func(_ *[]Op, s *Snapshot) {
			s.Charges = append(s.Charges, Charge{ID: "pay_4", OrderID: "ord_4", AmountCents: 100, Currency: "EUR", Status: ChargeDeclined})
		}, nil},
		{"order without charge", func(_ *[]Op, s *Snapshot) { s.Charges = s.Charges[1:] }, []string{"order-without-charge ord_1"}},
		{"duplicate charge", func(_ *[]Op, s *Snapshot) {
			s.Charges = append(s.Charges, Charge{ID: "pay_1b", OrderID: "ord_1", AmountCents: 200, Currency: "EUR", Status: ChargeSucceeded})
		}, []string{"duplicate-charge ord_1"}},
		{"amount mismatch", func(_ *[]Op, s *Snapshot) { s.Charges[2].AmountCents = 351 }, []string{"amount-mismatch ord_3"}},
		{"oversold: an older attempt committed on top (issue 10 #2)", func(_ *[]Op, s *Snapshot) {
			level(s, "p1").Sold += 2
			level(s, "p1").Available -= 2
		}, []string{"oversold p1"}},
		{"undersold", func(_ *[]Op, s *Snapshot) {
			level(s, "p2").Sold--
			level(s, "p2").Available++
		}, []string{"undersold p2"}},
		{"conservation", func(_ *[]Op, s *Snapshot) { level(s, "p2").Available-- }, []string{"conservation p2"}},
		{"reserved mismatch", func(_ *[]Op, s *Snapshot) {
			level(s, "p1").Reserved += 3
			level(s, "p1").Available -= 3
		}, []string{"reserved-mismatch p1"}},
		{"leaked reservation of a confirmed order (issue 10 #4)", func(_ *[]Op, s *Snapshot) {
			level(s, "p1").Reserved += 2
			level(s, "p1").Available -= 2
			s.Reservations = append(s.Reservations, Reservation{ID: "ord_1-1", State: ReservationHeld, Items: []ReservedItem{{"p1", 2}}})
		}, []string{"leaked-reservation ord_1"}},
		{"leaked reservation of a missing order", func(_ *[]Op, s *Snapshot) {
			level(s, "p2").Reserved++
			level(s, "p2").Available--
			s.Reservations = append(s.Reservations, Reservation{ID: "r9", OrderID: "ord_9", State: ReservationHeld, Items: []ReservedItem{{"p2", 1}}})
		}, []string{"leaked-reservation ord_9"}},
		{"pending after quiescence", func(_ *[]Op, s *Snapshot) {
			(*s).Orders = append(s.Orders, Order{ID: "ord_5", UserID: "u1", Status: StatusPending, Items: []Line{{"p2", 1, 250}}, TotalCents: 250, Currency: "EUR",
				IdempotencyKey: "k5", Version: 1, Events: []Event{ev(1, "", StatusPending, 1)}})
			level(s, "p2").Reserved++
			level(s, "p2").Available--
			s.Reservations = append(s.Reservations, Reservation{ID: "ord_5-1", State: ReservationHeld, Items: []ReservedItem{{"p2", 1}}})
		}, []string{"pending-after-quiescence ord_5"}},
		{"pending unacked order with its stock still reserved", func(ops *[]Op, s *Snapshot) {
			(*ops)[0].Status = 0
			pend(s)
		}, []string{"pending-after-quiescence ord_1"}},
		{"charge in flight", func(_ *[]Op, s *Snapshot) { s.Charges[1].Status = ChargeProcessing }, []string{"charge-in-flight ord_2"}},
		{"left final state: failed → pending", func(_ *[]Op, s *Snapshot) {
			o := order(s, "ord_2")
			o.Events = append(o.Events, ev(3, StatusFailed, StatusPending, 3), ev(4, StatusPending, StatusFailed, 4))
			o.Version = 4
		}, []string{"left-final-state ord_2"}},
		{"version gap: a missing event", func(_ *[]Op, s *Snapshot) {
			o := order(s, "ord_3")
			o.Events = append(o.Events[:1:1], o.Events[2:]...)
		}, []string{"version-gap ord_3"}},
		{"seq is the log's, not the order's", func(_ *[]Op, s *Snapshot) {
			for i := range s.Orders {
				for j := range s.Orders[i].Events {
					s.Orders[i].Events[j].Seq = 100*i + 7*j + 3
				}
			}
		}, nil},
		{"version gap: two events with one seq", func(_ *[]Op, s *Snapshot) {
			order(s, "ord_1").Events[1].Seq = 1
		}, []string{"version-gap ord_1"}},
		{"version gap: an overwritten transition", func(_ *[]Op, s *Snapshot) {
			order(s, "ord_1").Version = 3
		}, []string{"version-gap ord_1"}},
		{"version gap: versions without events", func(_ *[]Op, s *Snapshot) {
			order(s, "ord_1").Events = nil
		}, []string{"version-gap ord_1"}},
		{"no events and version 0 are not checked", func(_ *[]Op, s *Snapshot) {
			for i := range s.Orders {
				s.Orders[i].Events, s.Orders[i].Version = nil, 0
			}
		}, nil},
		{"duplicate order for one key", func(_ *[]Op, s *Snapshot) {
			(*s).Orders = append(s.Orders, Order{ID: "ord_6", UserID: "u1", Status: StatusFailed, Items: []Line{{"p1", 2, 100}}, TotalCents: 200, Currency: "EUR",
				IdempotencyKey: "k1", Version: 2, Events: []Event{ev(1, "", StatusPending, 1), ev(2, StatusPending, StatusFailed, 2)}})
		}, []string{"duplicate-order ord_6"}},
		{"one key for two users is two orders", func(_ *[]Op, s *Snapshot) {
			(*s).Orders = append(s.Orders, Order{ID: "ord_6", UserID: "u2", Status: StatusFailed, Items: []Line{{"p1", 2, 100}}, TotalCents: 200, Currency: "EUR",
				IdempotencyKey: "k1", Version: 2, Events: []Event{ev(1, "", StatusPending, 1), ev(2, StatusPending, StatusFailed, 2)}})
		}, nil},
		{"indeterminate answers are not held to anything", func(ops *[]Op, _ *Snapshot) {
			*ops = append(*ops, Op{Key: "k9", Status: http.StatusServiceUnavailable}, Op{Key: "k9", Status: http.StatusConflict}, Op{Key: "k9"})
		}, nil},
		{"a 409 in progress is no refusal", func(ops *[]Op, _ *Snapshot) {
			*ops = append(*ops, Op{Key: "k1", Status: http.StatusConflict})
		}, nil},
		{"a replay refused for its token is no refusal of the order", func(ops *[]Op, _ *Snapshot) {
			*ops = append(*ops, Op{Key: "k1", Status: http.StatusUnauthorized}, Op{Key: "k3", Status: http.StatusForbidden})
		}, nil},
		{"a 201 then a 400 on a replay", func(ops *[]Op, _ *Snapshot) {
			*ops = append(*ops, Op{Key: "k1", Status: http.StatusBadRequest})
		}, []string{"charged-after-refusal ord_1"}},
		{"a 201 without order id is matched by key", func(ops *[]Op, s *Snapshot) {
			(*ops)[0].OrderID = ""
			order(s, "ord_1").TotalCents = 1
			s.Charges[0].AmountCents = 1
		}, []string{"changed-ack ord_1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, snap := clean()
			tt.mutate(&ops, &snap)
			before, _ := json.Marshal(snap)
			rep := Check(ops, snap)
			after, _ := json.Marshal(snap)
			if string(before) != string(after) {
				t.Fatal("Check modified the snapshot")
			}
			var got []string
			for _, a := range rep.Anomalies {
				id := a.OrderID
				if id == "" {
					id = a.ProductID
				}
				got = append(got, a.Kind+" "+id)
				if a.Detail == "" {
					t.Errorf("%s has no detail", a)
				}
			}
			want := append([]string(nil), tt.want...)
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("anomalies = %q, want %q\n%s", got, want, rep)
			}
			keys := map[string]bool{}
			for _, op := range ops {
				keys[op.Key] = true
			}
			if rep.Ops != len(ops) || rep.Keys != len(keys) || rep.OK() != (len(want) == 0) {
				t.Errorf("Ops = %d OK = %v, want %d %v", rep.Ops, rep.OK(), len(ops), len(want) == 0)
			}
		})
	}
}

func TestReportString(t *testing.T) {
	tests := []struct {
		rep  Report
		want string
	}{
		{Report{Ops: 1000}, "history: 0 anomalies in 1,000 operations"},
		{Report{Ops: 1}, "history: 0 anomalies in 1 operation"},
		{Report{Ops: 1234567}, "history: 0 anomalies in 1,234,567 operations"},
		{Report{Ops: 12, Anomalies: []Anomaly{
			{Kind: KindLostAck, OrderID: "ord_1", Key: "k1", Detail: "201 at 19:00:00.001; the order is pending"},
			{Kind: KindOversold, ProductID: "p1", Detail: "sold 5, confirmed orders hold 3"},
		}}, "history: 2 anomalies in 12 operations\n  ord_1 lost-ack (key k1): 201 at 19:00:00.001; the order is pending\n  product p1 oversold: sold 5, confirmed orders hold 3"},
		{Report{Ops: 3, Anomalies: []Anomaly{{Kind: KindVersionGap, OrderID: "o", Detail: "d"}}}, "history: 1 anomaly in 3 operations\n  o version-gap: d"},
	}
	for _, tt := range tests {
		t.Run(tt.want[:20], func(t *testing.T) {
			if got := tt.rep.String(); got != tt.want {
				t.Errorf("String() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestCheckOrdersAnomalies: the report lists anomalies by order id, product
// anomalies last.
func TestCheckOrdersAnomalies(t *testing.T) {
	ops, snap := clean()
	level(&snap, "p1").Sold++
	level(&snap, "p1").Available--
	snap.Charges = snap.Charges[:1] // ord_3 loses its charge
	s := Check(ops, snap).String()
	want := []string{"ord_3 order-without-charge", "product p1 oversold"}
	last := -1
	for _, w := range want {
		i := strings.Index(s, w)
		if i < 0 || i < last {
			t.Fatalf("%q missing or out of order in\n%s", w, s)
		}
		last = i
	}
}

func TestOpSetAnswer(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Op
	}{
		{"created", 201, `{"id":"ord_1","status":"confirmed","items":[{"product_id":"p1","quantity":2,"unit_price_cents":100}],"total_cents":200,"currency":"EUR","payment_id":"pay_1"}`,
			Op{Status: 201, OrderID: "ord_1", OrderStatus: "confirmed", TotalCents: 200, Currency: "EUR", PaymentID: "pay_1", AckItems: []Item{{"p1", 2}}}},
		{"problem", 402, `{"type":"about:blank","status":402,"title":"Payment Required"}`, Op{Status: 402}},
		{"garbage 2xx", 201, `not json`, Op{Status: 201}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var op Op
			op.SetAnswer(tt.status, []byte(tt.body))
			if !reflect.DeepEqual(op, tt.want) {
				t.Errorf("op = %+v, want %+v", op, tt.want)
			}
		})
	}
}

func TestOpRefused(t *testing.T) {
	for status, want := range map[int]bool{0: false, 201: false, 400: true, 401: false, 402: true, 403: false, 404: true, 408: false, 409: false, 422: true, 429: false, 500: false, 503: false} {
		if got := (Op{Status: status}).Refused(); got != want {
			t.Errorf("Refused(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestReservationOrder(t *testing.T) {
	for id, want := range map[string]string{"ord_1-1": "ord_1", "ord_a-b-12": "ord_a-b", "ord_1": "ord_1", "-1": "-1", "x-": "x-"} {
		if got := (Reservation{ID: id}).Order(); got != want {
			t.Errorf("Order(%q) = %q, want %q", id, got, want)
		}
	}
	if got := (Reservation{ID: "r", OrderID: "ord_2"}).Order(); got != "ord_2" {
		t.Errorf("Order = %q", got)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 100; i++ {
				r.Record(Op{Key: "k"})
			}
			done <- struct{}{}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	if r.Len() != 800 || len(r.Ops()) != 800 {
		t.Fatalf("Len = %d, Ops = %d, want 800", r.Len(), len(r.Ops()))
	}
}
