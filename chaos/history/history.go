package history

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Order statuses Check knows. Any other status (the saga's "the run ended
// because a dependency was unavailable" state) is neither final nor in
// flight: it may hold no charge and no stock.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusFailed    = "failed"
)

// Charge statuses.
const (
	ChargeSucceeded  = "succeeded"
	ChargeDeclined   = "declined"
	ChargeProcessing = "processing"
)

// ReservationHeld is the state of a reservation that still holds stock.
const ReservationHeld = "reserved"

// Item is one requested line: what the client asked for.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// Op is one client operation on POST /orders. A transport error is recorded
// as Status 0 with Err set. The answer fields come from a 2xx body.
type Op struct {
	Key     string    `json:"key"`
	Items   []Item    `json:"items"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Attempt int       `json:"attempt,omitempty"` // 1 for the first try of Key
	Replay  bool      `json:"replay,omitempty"`  // the client had sent Key before
	Status  int       `json:"status"`
	Err     string    `json:"error,omitempty"`

	OrderID     string `json:"order_id,omitempty"`
	OrderStatus string `json:"order_status,omitempty"`
	TotalCents  int64  `json:"total_cents,omitempty"`
	Currency    string `json:"currency,omitempty"`
	PaymentID   string `json:"payment_id,omitempty"`
	AckItems    []Item `json:"ack_items,omitempty"` // the items the answer named
}

// SetAnswer records status and, for a 2xx, the order the body names. A body
// that is not an order leaves the answer fields empty.
func (o *Op) SetAnswer(status int, body []byte) {
	o.Status = status
	if status < 200 || status > 299 {
		return
	}
	var a struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		Items      []Item `json:"items"`
		TotalCents int64  `json:"total_cents"`
		Currency   string `json:"currency"`
		PaymentID  string `json:"payment_id"`
	}
	if json.Unmarshal(body, &a) != nil {
		return
	}
	o.OrderID, o.OrderStatus, o.TotalCents, o.Currency, o.PaymentID = a.ID, a.Status, a.TotalCents, a.Currency, a.PaymentID
	o.AckItems = a.Items
}

// Acked reports whether the client was told its order was created.
func (o Op) Acked() bool { return o.Status == http.StatusCreated }

// Refused reports whether the answer was a permanent refusal of the order:
// a 4xx that a retry of the same request cannot change. Not 408, 409 (a
// request still in progress), 425 or 429, which a retry may change, nor
// 401 or 403, which refuse the caller, not the order.
func (o Op) Refused() bool {
	switch o.Status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooEarly, http.StatusTooManyRequests,
		http.StatusUnauthorized, http.StatusForbidden:
		return false
	}
	return o.Status >= 400 && o.Status <= 499
}

// Recorder collects Ops. It is safe for concurrent use; the zero value is
// ready.
type Recorder struct {
	mu  sync.Mutex
	ops []Op
}

// Record appends op.
func (r *Recorder) Record(op Op) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// Ops returns a copy of the recorded operations in the order recorded.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Len is the number of recorded operations.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// Snapshot is what the stores hold after quiescence.
type Snapshot struct {
	Orders       []Order       `json:"orders"`
	Charges      []Charge      `json:"charges"`
	Stock        []StockLevel  `json:"stock"`
	Reservations []Reservation `json:"reservations"` // those still held (state reserved)
}

// Line is one line of a stored order.
type Line struct {
	ProductID      string `json:"product_id"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents,omitempty"`
}

// Event is one recorded transition of an order.
type Event struct {
	Seq     int       `json:"seq"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Attempt int       `json:"attempt"`
	Version int       `json:"version"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor,omitempty"`
	TraceID string    `json:"trace_id,omitempty"`
}

// Order is one stored order with its transitions (GET /internal/orders).
type Order struct {
	ID             string    `json:"id"`
	UserID         string    `json:"user_id"`
	Status         string    `json:"status"`
	Reason         string    `json:"reason,omitempty"`
	Items          []Line    `json:"items"`
	TotalCents     int64     `json:"total_cents"`
	Currency       string    `json:"currency,omitempty"`
	PaymentID      string    `json:"payment_id,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	IdempotencyKey string    `json:"idempotency_key"`
	Version        int       `json:"version"`
	Events         []Event   `json:"events"`
}

// Charge is one stored payment (GET /internal/charges).
type Charge struct {
	ID          string    `json:"id"`
	OrderID     string    `json:"order_id"`
	UserID      string    `json:"user_id,omitempty"`
	AmountCents int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// StockLevel is the split of one product's stock (GET /internal/stock).
type StockLevel struct {
	ProductID string `json:"product_id"`
	Initial   int64  `json:"initial"`
	Available int64  `json:"available"`
	Reserved  int64  `json:"reserved"`
	Sold      int64  `json:"sold"`
}

// ReservedItem is one line of a reservation.
type ReservedItem struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// Reservation is one stock reservation (GET /internal/reservations). Its
// order is OrderID, or else the ID without its "-<attempt>" suffix (order
// names reservations <order id>-<attempt>).
type Reservation struct {
	ID        string         `json:"id"`
	OrderID   string         `json:"order_id,omitempty"`
	State     string         `json:"state"`
	Items     []ReservedItem `json:"items"`
	ExpiresAt time.Time      `json:"expires_at,omitempty"`
}

// Order returns the id of the order the reservation belongs to.
func (r Reservation) Order() string {
	if r.OrderID != "" {
		return r.OrderID
	}
	i := len(r.ID)
	for i > 0 && r.ID[i-1] >= '0' && r.ID[i-1] <= '9' {
		i--
	}
	if i > 1 && i < len(r.ID) && r.ID[i-1] == '-' {
		return r.ID[:i-1]
	}
	return r.ID
}
