package history

import (
	"fmt"
	"sort"
	"strings"
)

// Anomaly kinds.
const (
	KindLostAck                = "lost-ack"                 // 201 told, order missing or not confirmed
	KindChangedAck             = "changed-ack"              // items, total, currency or payment id differ from the 201
	KindChargedAfterRefusal    = "charged-after-refusal"    // permanent 4xx, yet a succeeded charge or a confirmed order
	KindChargeWithoutOrder     = "charge-without-order"     // succeeded charge, order missing or not confirmed
	KindOrderWithoutCharge     = "order-without-charge"     // confirmed order, no succeeded charge
	KindDuplicateCharge        = "duplicate-charge"         // more than one succeeded charge for an order
	KindAmountMismatch         = "amount-mismatch"          // charge amount, currency or id differ from the order's
	KindOversold               = "oversold"                 // sold > Σ confirmed quantities
	KindUndersold              = "undersold"                // sold < Σ confirmed quantities
	KindReservedMismatch       = "reserved-mismatch"        // reserved != Σ pending quantities, unexplained
	KindLeakedReservation      = "leaked-reservation"       // a held reservation whose order is not pending
	KindConservation           = "conservation"             // initial != available + reserved + sold
	KindPendingAfterQuiescence = "pending-after-quiescence" // an order still pending once the shop is quiet
	KindChargeInFlight         = "charge-in-flight"         // a charge still processing once the shop is quiet
	KindLeftFinalState         = "left-final-state"         // an event moves an order out of confirmed or failed
	KindVersionGap             = "version-gap"              // the event log skips, or disagrees with the order
	KindDuplicateOrder         = "duplicate-order"          // one user's key made more than one order
)

// Anomaly is one broken promise. OrderID is empty for a product-level
// anomaly (ProductID set).
type Anomaly struct {
	Kind      string `json:"kind"`
	OrderID   string `json:"order_id,omitempty"`
	Key       string `json:"key,omitempty"`
	ProductID string `json:"product_id,omitempty"`
	Detail    string `json:"detail"`
}

// String is "<order id> <kind> (key k): detail".
func (a Anomaly) String() string {
	var b strings.Builder
	if a.OrderID != "" {
		b.WriteString(a.OrderID)
	} else if a.ProductID != "" {
		b.WriteString("product " + a.ProductID)
	} else {
		b.WriteString("-")
	}
	b.WriteString(" " + a.Kind)
	if a.Key != "" {
		b.WriteString(" (key " + a.Key + ")")
	}
	b.WriteString(": " + a.Detail)
	return b.String()
}

// Report is the verdict of Check.
type Report struct {
	Ops       int       `json:"ops"`
	Keys      int       `json:"keys"`   // distinct Idempotency-Keys in the ops: the orders clients tried
	Orders    int       `json:"orders"` // orders in the stores
	Anomalies []Anomaly `json:"anomalies"`
}

// OK reports whether no anomaly was found.
func (r Report) OK() bool { return len(r.Anomalies) == 0 }

// Summary is "0 anomalies in 1,000 operations".
func (r Report) Summary() string {
	return plural(len(r.Anomalies), "anomaly", "anomalies") + " in " + plural(r.Ops, "operation", "operations")
}

// String is "history: 0 anomalies in 1,000 operations", followed by one
// indented line per anomaly, sorted by order id.
func (r Report) String() string {
	var b strings.Builder
	b.WriteString("history: " + r.Summary())
	for _, a := range r.Anomalies {
		b.WriteString("\n  " + a.String())
	}
	return b.String()
}

// Counts is the number of anomalies per kind.
func (r Report) Counts() map[string]int {
	m := map[string]int{}
	for _, a := range r.Anomalies {
		m[a.Kind]++
	}
	return m
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

type checker struct {
	rep  Report
	seen map[string]bool
}

func (c *checker) add(kind, orderID, key, productID, format string, args ...any) {
	id := kind + "\x00" + orderID + "\x00" + productID
	if c.seen[id] {
		return // one anomaly of a kind per order (or product) is enough to name it
	}
	c.seen[id] = true
	c.rep.Anomalies = append(c.rep.Anomalies, Anomaly{Kind: kind, OrderID: orderID, Key: key, ProductID: productID, Detail: fmt.Sprintf(format, args...)})
}

// Check compares ops, what the clients were told, with snap, what the stores
// hold once the shop is quiet, and lists every anomaly. It does not modify
// its arguments.
func Check(ops []Op, snap Snapshot) Report {
	c := &checker{rep: Report{Ops: len(ops), Orders: len(snap.Orders)}, seen: map[string]bool{}}
	keys := map[string]bool{}
	for _, op := range ops {
		keys[op.Key] = true
	}
	c.rep.Keys = len(keys)

	byID := make(map[string]*Order, len(snap.Orders))
	byKey := map[string][]*Order{}
	orders := make([]*Order, len(snap.Orders))
	for i := range snap.Orders {
		o := &snap.Orders[i]
		orders[i] = o
		byID[o.ID] = o
		if o.IdempotencyKey != "" {
			byKey[o.IdempotencyKey] = append(byKey[o.IdempotencyKey], o)
		}
	}
	sort.Slice(orders, func(i, j int) bool { return orders[i].ID < orders[j].ID })
	succeeded := map[string][]Charge{}
	for _, ch := range snap.Charges {
		if ch.Status == ChargeSucceeded {
			succeeded[ch.OrderID] = append(succeeded[ch.OrderID], ch)
		}
	}

	// One key, one order (per user).
	for _, o := range orders {
		for _, other := range byKey[o.IdempotencyKey] {
			if other.ID < o.ID && other.UserID == o.UserID {
				c.add(KindDuplicateOrder, o.ID, o.IdempotencyKey, "", "key already made order %s", other.ID)
			}
		}
	}

	refused := c.checkOps(ops, byID, byKey, succeeded)

	for _, o := range orders {
		c.checkOrder(o, succeeded[o.ID], refused[o.ID])
		c.checkEvents(o)
	}
	for _, ch := range sortedCharges(snap.Charges) {
		switch {
		case ch.Status == ChargeProcessing:
			c.add(KindChargeInFlight, ch.OrderID, "", "", "charge %s of %d %s is still processing", ch.ID, ch.AmountCents, ch.Currency)
		case ch.Status == ChargeSucceeded && byID[ch.OrderID] == nil:
			c.add(KindChargeWithoutOrder, ch.OrderID, "", "", "charge %s of %d %s succeeded; the store has no such order", ch.ID, ch.AmountCents, ch.Currency)
		}
	}
	if len(snap.Stock) > 0 {
		c.checkStock(orders, byID, snap)
	}

	sort.SliceStable(c.rep.Anomalies, func(i, j int) bool {
		a, b := c.rep.Anomalies[i], c.rep.Anomalies[j]
		if (a.OrderID == "") != (b.OrderID == "") {
			return a.OrderID != "" // product-level anomalies last
		}
		if a.OrderID != b.OrderID {
			return a.OrderID < b.OrderID
		}
		if a.ProductID != b.ProductID {
			return a.ProductID < b.ProductID
		}
		return a.Kind < b.Kind
	})
	return c.rep
}

func sortedCharges(in []Charge) []Charge {
	out := append([]Charge(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// checkOps holds the stores to every definite answer. It returns the orders
// whose key was refused (permanent 4xx), so that a charge on them is named
// once, as charged-after-refusal.
func (c *checker) checkOps(ops []Op, byID map[string]*Order, byKey map[string][]*Order, succeeded map[string][]Charge) map[string]bool {
	refused := map[string]bool{}
	for _, op := range ops {
		switch {
		case op.Acked():
			o := byID[op.OrderID]
			if op.OrderID == "" && len(byKey[op.Key]) == 1 {
				o = byKey[op.Key][0]
			}
			id := op.OrderID
			if id == "" && o != nil {
				id = o.ID
			}
			if o == nil {
				c.add(KindLostAck, id, op.Key, "", "201 at %s; the store has no such order", op.End.UTC().Format("15:04:05.000"))
				continue
			}
			if o.Status != StatusConfirmed {
				c.add(KindLostAck, o.ID, op.Key, "", "201 at %s; the order is %s", op.End.UTC().Format("15:04:05.000"), statusOf(o))
				continue
			}
			if diff := ackDiff(op, o); diff != "" {
				c.add(KindChangedAck, o.ID, op.Key, "", "%s", diff)
			}
		case op.Refused():
			for _, o := range byKey[op.Key] {
				refused[o.ID] = true
				n := len(succeeded[o.ID])
				if o.Status == StatusConfirmed || n > 0 {
					c.add(KindChargedAfterRefusal, o.ID, op.Key, "", "answered %d, yet the order is %s with %d succeeded charge(s)", op.Status, statusOf(o), n)
				}
			}
		}
	}
	return refused
}

func statusOf(o *Order) string {
	if o.Status == "" {
		return `""`
	}
	return o.Status
}

// ackDiff lists how a confirmed order differs from what op was told.
func ackDiff(op Op, o *Order) string {
	var d []string
	lines := make([]Item, len(o.Items))
	for i, l := range o.Items {
		lines[i] = Item{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	if len(op.Items) > 0 && !sameItems(op.Items, lines) {
		d = append(d, fmt.Sprintf("items %s, asked for %s", itemsString(lines), itemsString(op.Items)))
	}
	if len(op.AckItems) > 0 && !sameItems(op.AckItems, lines) {
		d = append(d, fmt.Sprintf("items %s, told %s", itemsString(lines), itemsString(op.AckItems)))
	}
	if o.TotalCents != op.TotalCents {
		d = append(d, fmt.Sprintf("total_cents %d, told %d", o.TotalCents, op.TotalCents))
	}
	if o.Currency != op.Currency {
		d = append(d, fmt.Sprintf("currency %q, told %q", o.Currency, op.Currency))
	}
	if o.PaymentID != op.PaymentID {
		d = append(d, fmt.Sprintf("payment_id %q, told %q", o.PaymentID, op.PaymentID))
	}
	return strings.Join(d, "; ")
}

func sameItems(a, b []Item) bool {
	sum := map[string]int64{}
	for _, it := range a {
		sum[it.ProductID] += it.Quantity
	}
	for _, it := range b {
		sum[it.ProductID] -= it.Quantity
	}
	for _, v := range sum {
		if v != 0 {
			return false
		}
	}
	return true
}

func itemsString(items []Item) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprintf("%s×%d", it.ProductID, it.Quantity)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (c *checker) checkOrder(o *Order, charges []Charge, refused bool) {
	key := o.IdempotencyKey
	switch o.Status {
	case StatusConfirmed:
		switch len(charges) {
		case 0:
			c.add(KindOrderWithoutCharge, o.ID, key, "", "confirmed (total %d %s) with no succeeded charge", o.TotalCents, o.Currency)
		case 1:
			ch := charges[0]
			var d []string
			if ch.AmountCents != o.TotalCents {
				d = append(d, fmt.Sprintf("charge %s is %d, order total_cents %d", ch.ID, ch.AmountCents, o.TotalCents))
			}
			if ch.Currency != o.Currency {
				d = append(d, fmt.Sprintf("charge %s is in %q, order in %q", ch.ID, ch.Currency, o.Currency))
			}
			if o.PaymentID != "" && ch.ID != o.PaymentID {
				d = append(d, fmt.Sprintf("order names payment %s, its charge is %s", o.PaymentID, ch.ID))
			}
			if len(d) > 0 {
				c.add(KindAmountMismatch, o.ID, key, "", "%s", strings.Join(d, "; "))
			}
		default:
			c.add(KindDuplicateCharge, o.ID, key, "", "%d succeeded charges: %s", len(charges), chargeList(charges))
		}
	case StatusPending:
		c.add(KindPendingAfterQuiescence, o.ID, key, "", "still pending (version %d, updated %s)", o.Version, o.UpdatedAt.UTC().Format("15:04:05.000"))
	}
	if o.Status != StatusConfirmed && len(charges) > 0 && !refused {
		c.add(KindChargeWithoutOrder, o.ID, key, "", "order is %s, yet charged: %s", statusOf(o), chargeList(charges))
	}
}

func chargeList(charges []Charge) string {
	parts := make([]string, len(charges))
	for i, ch := range charges {
		parts[i] = fmt.Sprintf("%s (%d %s)", ch.ID, ch.AmountCents, ch.Currency)
	}
	return strings.Join(parts, ", ")
}

func final(status string) bool { return status == StatusConfirmed || status == StatusFailed }

// checkEvents walks the order's event log in seq order (seq is the log's
// own, increasing, not per order): versions one apart,
// each event starting where the last one ended, never out of a final state,
// ending at the order's status and version. An order with no events and
// version 0 predates the log and is not checked.
func (c *checker) checkEvents(o *Order) {
	key := o.IdempotencyKey
	if len(o.Events) == 0 {
		if o.Version > 0 {
			c.add(KindVersionGap, o.ID, key, "", "version %d but no events", o.Version)
		}
		return
	}
	ev := append([]Event(nil), o.Events...)
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].Seq < ev[j].Seq })
	cur := ""
	for i, e := range ev {
		if i > 0 && e.Seq == ev[i-1].Seq {
			c.add(KindVersionGap, o.ID, key, "", "two events have seq %d", e.Seq)
		}
		if i > 0 {
			if e.Version != ev[i-1].Version+1 {
				c.add(KindVersionGap, o.ID, key, "", "event seq %d has version %d after version %d", e.Seq, e.Version, ev[i-1].Version)
			}
			if final(cur) && e.To != cur {
				c.add(KindLeftFinalState, o.ID, key, "", "event seq %d moves it %s → %s (actor %s, attempt %d)", e.Seq, cur, e.To, orDash(e.Actor), e.Attempt)
			} else if e.From != cur {
				c.add(KindVersionGap, o.ID, key, "", "event seq %d starts from %s, but the order was %s", e.Seq, orDash(e.From), cur)
			}
		}
		cur = e.To
	}
	last := ev[len(ev)-1]
	if o.Status != last.To {
		c.add(KindVersionGap, o.ID, key, "", "order is %s, its last event (seq %d) says %s", statusOf(o), last.Seq, last.To)
	}
	if o.Version != last.Version {
		c.add(KindVersionGap, o.ID, key, "", "order has version %d, its last event (seq %d) version %d", o.Version, last.Seq, last.Version)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// checkStock holds each product's split to the orders: sold to the
// confirmed quantities, reserved to the pending ones. A held reservation
// whose order is not pending is named by order (leaked-reservation); a
// difference those leaks do not explain is reserved-mismatch.
func (c *checker) checkStock(orders []*Order, byID map[string]*Order, snap Snapshot) {
	sold, reserved, leaked := map[string]int64{}, map[string]int64{}, map[string]int64{}
	for _, o := range orders {
		for _, l := range o.Items {
			switch o.Status {
			case StatusConfirmed:
				sold[l.ProductID] += l.Quantity
			case StatusPending:
				reserved[l.ProductID] += l.Quantity
			}
		}
	}
	res := append([]Reservation(nil), snap.Reservations...)
	sort.Slice(res, func(i, j int) bool { return res[i].ID < res[j].ID })
	for _, r := range res {
		if r.State != "" && r.State != ReservationHeld {
			continue
		}
		o := byID[r.Order()]
		if o != nil && o.Status == StatusPending {
			continue
		}
		status, key := "missing", ""
		if o != nil {
			status, key = statusOf(o), o.IdempotencyKey
		}
		var n int64
		for _, it := range r.Items {
			leaked[it.ProductID] += it.Quantity
			n += it.Quantity
		}
		c.add(KindLeakedReservation, r.Order(), key, "", "reservation %s still holds %d unit(s); the order is %s", r.ID, n, status)
	}
	levels := append([]StockLevel(nil), snap.Stock...)
	sort.Slice(levels, func(i, j int) bool { return levels[i].ProductID < levels[j].ProductID })
	for _, l := range levels {
		p := l.ProductID
		if l.Initial != l.Available+l.Reserved+l.Sold {
			c.add(KindConservation, "", "", p, "initial %d != available %d + reserved %d + sold %d", l.Initial, l.Available, l.Reserved, l.Sold)
		}
		switch {
		case l.Sold > sold[p]:
			c.add(KindOversold, "", "", p, "sold %d, confirmed orders hold %d", l.Sold, sold[p])
		case l.Sold < sold[p]:
			c.add(KindUndersold, "", "", p, "sold %d, confirmed orders hold %d", l.Sold, sold[p])
		}
		if l.Reserved != reserved[p]+leaked[p] {
			c.add(KindReservedMismatch, "", "", p, "reserved %d, pending orders hold %d (leaked reservations explain %d)", l.Reserved, reserved[p], leaked[p])
		}
	}
}
