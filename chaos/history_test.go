package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/history"
)

// fakeShop is a gateway with an in-memory order store: the first attempt
// of every key answers 503 (retryable, nothing stored), the second creates
// the order, confirms it, charges it and answers 201. With loseAcks, the
// shop then puts every confirmed order back to pending (issue 10's lost
// ack), so the history check must fail.
type fakeShop struct {
	*fakeEnv
	url        string
	loseAcks   bool
	reconciles atomic.Int64

	mu     sync.Mutex
	seen   map[string]int
	orders map[string]*history.Order
	snap   history.Snapshot
}

func newFakeShop(t *testing.T, loseAcks bool) *fakeShop {
	t.Helper()
	s := &fakeShop{fakeEnv: newFakeEnv(t), loseAcks: loseAcks, seen: map[string]int{}, orders: map[string]*history.Order{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/products", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"items":[{"id":"p1","stock":1000}],"total":1}`))
	})
	mux.HandleFunc("POST /api/v1/orders", func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		var req struct {
			Items []history.Item `json:"items"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || key == "" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.seen[key]++
		if s.seen[key] == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "payment unavailable", http.StatusServiceUnavailable)
			return
		}
		o := s.orders[key]
		if o == nil {
			n := len(s.orders) + 1
			o = &history.Order{ID: fmt.Sprintf("ord_%04d", n), UserID: "u1", Status: history.StatusConfirmed, IdempotencyKey: key,
				TotalCents: 100, Currency: "EUR", PaymentID: fmt.Sprintf("pay_%04d", n)}
			for _, it := range req.Items {
				o.Items = append(o.Items, history.Line{ProductID: it.ProductID, Quantity: it.Quantity, UnitPriceCents: 100})
			}
			s.orders[key] = o
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(o)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *fakeShop) GatewayURL() string { return s.url }

func (s *fakeShop) Reconcile(ctx context.Context) error { s.reconciles.Add(1); return nil }

func (s *fakeShop) Snapshot(ctx context.Context) (history.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var snap history.Snapshot
	var sold int64
	for _, o := range s.orders {
		c := *o
		if s.loseAcks {
			c.Status = history.StatusFailed
		}
		snap.Orders = append(snap.Orders, c)
		snap.Charges = append(snap.Charges, history.Charge{ID: o.PaymentID, OrderID: o.ID, AmountCents: o.TotalCents, Currency: o.Currency, Status: history.ChargeSucceeded})
		for _, l := range o.Items {
			sold += l.Quantity
		}
	}
	if s.loseAcks {
		snap.Charges = nil
		sold = 0
	}
	snap.Stock = []history.StockLevel{{ProductID: "p1", Initial: 1000, Available: 1000 - sold, Sold: sold}}
	return snap, nil
}

func historyScenario() chaos.Scenario {
	return chaos.Scenario{
		Name: "fake-history",
		Load: chaos.LoadProfile{Rate: 40, Duration: 500 * time.Millisecond, Concurrency: 4, RetryFor: 5 * time.Second,
			Mix: []chaos.MixEntry{{Call: chaos.CallCreateOrderRetrying, Weight: 1}}},
		Hypothesis: []chaos.Check{{Kind: chaos.CheckHistory, Within: time.Second}},
	}
}

// TestRunHistory: retrying clients send each order again with the same key
// until the 201; every attempt is an operation; the verdict says "0
// anomalies in N operations" for an honest shop and lists the lost acks of
// a lying one.
func TestRunHistory(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("lose acks %v", lose), func(t *testing.T) {
			shop := newFakeShop(t, lose)
			res, err := chaos.Run(context.Background(), shop, historyScenario(), chaos.Options{SteadyState: -1})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Verdicts) != 1 || res.History == nil {
				t.Fatalf("verdicts %+v, history %v", res.Verdicts, res.History)
			}
			v, h := res.Verdicts[0], res.History
			shop.mu.Lock()
			keys, orders := len(shop.seen), len(shop.orders)
			shop.mu.Unlock()
			if orders == 0 || keys != orders {
				t.Fatalf("%d keys made %d orders: every retrying client must reach its 201", keys, orders)
			}
			if h.Ops != 2*keys {
				t.Errorf("history has %d ops for %d keys, want two attempts per key", h.Ops, keys)
			}
			if shop.reconciles.Load() == 0 {
				t.Error("Settle never ran the reconciler")
			}
			if want := fmt.Sprintf("0 anomalies in %d operations", h.Ops); !lose && (v.Measured != want || !v.Pass || !res.Passed()) {
				t.Errorf("verdict %+v, want pass with %q", v, want)
			}
			if lose {
				if v.Pass || res.Passed() || len(h.Anomalies) != orders || h.Counts()[history.KindLostAck] != orders {
					t.Fatalf("verdict %+v, anomalies %v: want one lost-ack per order", v, h.Counts())
				}
				var md bytes.Buffer
				if err := chaos.WriteMarkdown(&md, res); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(md.String(), "## History") || !strings.Contains(md.String(), "| ord_0001 | lost-ack |") {
					t.Errorf("markdown lacks the anomalies:\n%s", md.String())
				}
				var page bytes.Buffer
				if err := chaos.WriteHTML(&page, res); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(page.String(), `<table class="history">`) || !strings.Contains(page.String(), "<td>ord_0001</td><td>lost-ack</td>") {
					t.Error("HTML page lacks the anomalies")
				}
			}
		})
	}
}

// TestSettleWithoutHistorian: an Env that cannot read its stores skips the
// check instead of failing it.
func TestSettleWithoutHistorian(t *testing.T) {
	env := newFakeEnv(t)
	sc := historyScenario()
	sc.Load.Mix = []chaos.MixEntry{{Call: chaos.CallListProducts, Weight: 1}}
	res, err := chaos.Run(context.Background(), env, sc, chaos.Options{SteadyState: -1})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Verdicts[0]; !v.Skipped {
		t.Errorf("verdict %+v, want skipped", v)
	}
}

// pendingShop stays busy for a few snapshots: Settle must wait for it,
// polling, and return the quiet snapshot.
type pendingShop struct {
	*fakeEnv
	left atomic.Int64
}

func (p *pendingShop) Snapshot(ctx context.Context) (history.Snapshot, error) {
	st := history.StatusConfirmed
	if p.left.Add(-1) >= 0 {
		st = history.StatusPending
	}
	return history.Snapshot{Orders: []history.Order{{ID: "o1", Status: st}}}, nil
}

func TestSettle(t *testing.T) {
	tests := []struct {
		name      string
		busy      int64
		within    time.Duration
		wantQuiet bool
	}{
		{"quiet at once", 0, time.Second, true},
		{"quiet after three looks", 3, 5 * time.Second, true},
		{"never quiet in time", 1000, 300 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &pendingShop{fakeEnv: newFakeEnv(t)}
			p.left.Store(tt.busy)
			snap, quiet, err := chaos.Settle(context.Background(), p, tt.within)
			if err != nil || quiet != tt.wantQuiet || chaos.Quiet(snap) != tt.wantQuiet {
				t.Errorf("quiet %v (snapshot quiet %v), err %v; want %v", quiet, chaos.Quiet(snap), err, tt.wantQuiet)
			}
		})
	}
}

func TestScaleToOrders(t *testing.T) {
	sc := chaos.CompoundFaults()
	big, err := chaos.ScaleToOrders(sc, 1000)
	if err != nil {
		t.Fatal(err)
	}
	orders := big.Load.Rate * big.Load.Duration.Seconds() * big.Load.OrderShare()
	if orders < 990 || orders > 1010 {
		t.Errorf("scaled load sends %.0f orders, want about 1000", orders)
	}
	f := float64(big.Load.Duration) / float64(sc.Load.Duration)
	for i, st := range big.Faults {
		if want := time.Duration(float64(sc.Faults[i].Until) * f); st.Until < want-time.Millisecond || st.Until > want+time.Millisecond {
			t.Errorf("step %s until %s, want %s", st.Name, st.Until, want)
		}
	}
	if sc.Load.Duration != chaos.CompoundFaults().Load.Duration {
		t.Error("ScaleToOrders changed its argument")
	}
	closed := sc
	closed.Load.Rate = 0
	if _, err := chaos.ScaleToOrders(closed, 1000); err == nil {
		t.Error("a closed-loop scenario scaled")
	}
	browse, _ := chaos.Lookup("product-slow")
	if _, err := chaos.ScaleToOrders(browse, 10); err == nil { // it orders nothing
		t.Error("a scenario without orders scaled")
	}
}
