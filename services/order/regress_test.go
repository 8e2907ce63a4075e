package order

// Regression tests for issue 10's findings 1–5 and issue 17's point 5.
// They drive the real order service over HTTP against real product and
// payment services behind a gate that can fail, drop or hold chosen
// calls, so each race happens in a fixed order.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
)

// gateAction is what a gate rule does to a matching call.
type gateAction int

const (
	gateFail503      gateAction = iota // answer 503 without passing it on
	gateDropResponse                   // pass it on, then drop the connection
	gateHold                           // signal arrival, wait for release, pass it on
	gateDown                           // drop the connection without passing it on
	gateLate                           // answer 503 now, pass it on when released
)

type gateRule struct {
	method, pathHas, queryHas string
	action                    gateAction
	times                     int // 0: every time
	arrived, release          chan struct{}
}

// gate passes calls to h unless a rule matches.
type gate struct {
	h     http.Handler
	mu    sync.Mutex
	rules []*gateRule
}

func (g *gate) add(r *gateRule) *gateRule {
	if r.action == gateHold || r.action == gateLate {
		r.arrived, r.release = make(chan struct{}, 1), make(chan struct{})
	}
	g.mu.Lock()
	g.rules = append(g.rules, r)
	g.mu.Unlock()
	return r
}

func (g *gate) clear() {
	g.mu.Lock()
	g.rules = nil
	g.mu.Unlock()
}

func (g *gate) match(r *http.Request) *gateRule {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, rule := range g.rules {
		if (rule.method == "" || rule.method == r.Method) && strings.Contains(r.URL.Path, rule.pathHas) && strings.Contains(r.URL.RawQuery, rule.queryHas) {
			if rule.times > 0 {
				rule.times--
				if rule.times == 0 {
					g.rules = append(g.rules[:i:i], g.rules[i+1:]...)
				}
			}
			return rule
		}
	}
	return nil
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rule := g.match(r)
	if rule == nil {
		g.h.ServeHTTP(w, r)
		return
	}
	switch rule.action {
	case gateFail503:
		problem.Write(w, r, problem.Unavailable("gate: unavailable", 0))
	case gateDropResponse:
		g.h.ServeHTTP(discard{}, r)
		hijackClose(w)
	case gateDown:
		hijackClose(w)
	case gateHold:
		rule.arrived <- struct{}{}
		<-rule.release
		g.h.ServeHTTP(w, r)
	case gateLate:
		// The client gives up; the network delivers the request later.
		body, _ := io.ReadAll(r.Body)
		late := r.Clone(context.WithoutCancel(r.Context()))
		problem.Write(w, r, problem.Unavailable("gate: timed out", 0))
		go func() {
			<-rule.release
			late.Body = io.NopCloser(bytes.NewReader(body))
			g.h.ServeHTTP(discard{}, late)
			rule.arrived <- struct{}{}
		}()
	}
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
		}
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// gated is a fixture whose product and payment sit behind gates.
type gated struct {
	*fixture
	prod, pay *gate
	prodURL   string
}

func newGated(t testing.TB) *gated {
	t.Helper()
	clock := kittest.NewClock()
	prod, pay, payStore := upstreams(t, clock)
	g := &gated{prod: &gate{h: prod}, pay: &gate{h: pay}}
	g.prodURL = kittest.Serve(t, g.prod).URL
	g.fixture = fixtureOver(t, clock, t.TempDir(), g.prodURL, kittest.Serve(t, g.pay).URL)
	g.payStore = payStore
	return g
}

// reconcileHeld starts a reconciler pass and returns once it is held at
// its payment check of order w. release lets the pass go on and waits
// for it to end.
func (g *gated) reconcileHeld(w string) (release func()) {
	hold := g.pay.add(&gateRule{method: http.MethodGet, pathHas: "/internal/payments", queryHas: w, action: gateHold, times: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = g.svc.Reconcile(context.Background())
	}()
	<-hold.arrived
	return func() {
		close(hold.release)
		<-done
	}
}

func orderOf(t testing.TB, r kittest.Response) Order {
	t.Helper()
	var o Order
	r.JSON(t, &o)
	return o
}

// idOf finds the order id in an answer, a success or a problem.
func idOf(t testing.TB, r kittest.Response) string {
	t.Helper()
	if r.Status < 300 {
		return orderOf(t, r).ID
	}
	if i := strings.Index(string(r.Body), "ord_"); i >= 0 {
		return string(r.Body[i : i+28])
	}
	return ""
}

// stuck leaves an order pending: its charge lands but the answer is lost.
func (g *gated) stuck(t testing.TB, key string, line product.Item) string {
	t.Helper()
	// Two: net/http retries a request with an Idempotency-Key once on a
	// reused connection that broke.
	g.pay.add(&gateRule{method: http.MethodPost, pathHas: "/payments", action: gateDropResponse, times: 2})
	g.pay.add(&gateRule{method: http.MethodGet, pathHas: "/internal/payments", action: gateFail503, times: 1})
	r := g.order(t, "alice-token", key, items(line))
	g.pay.clear()
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("%s with its charge answer lost: %d %s", key, r.Status, r.Body)
	}
	var id string
	hs, err := NewClient(g.url, nil, kittest.Keys.Service).List(context.Background(), "alice-token")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range hs {
		if o.Status == StatusPending && (id == "" || o.CreatedAt.After(time.Time{})) {
			id = o.ID
			break
		}
	}
	if id == "" {
		t.Fatalf("%s: no pending order", key)
	}
	return id
}

// TestReconcilerNeverSavesAStaleCopy is finding 1: the reconciler loaded
// the pending orders, worked slowly through them, and saved its earlier
// copy over an order that a replay had confirmed meanwhile: the order went
// back to pending for good.
func TestReconcilerNeverSavesAStaleCopy(t *testing.T) {
	g := newGated(t)
	w := g.stuck(t, "slow-first", product.Item{ProductID: "prd_003", Quantity: 1})
	g.clock.Advance(time.Second)
	x := g.stuck(t, "replayed", product.Item{ProductID: "prd_005", Quantity: 1})
	g.clock.Advance(time.Minute) // the requests' leases are long gone

	release := g.reconcileHeld(w) // the reconciler is busy with w
	first := g.order(t, "alice-token", "replayed", items(product.Item{ProductID: "prd_005", Quantity: 1}))
	if first.Status != http.StatusCreated {
		t.Fatalf("replay: %d %s", first.Status, first.Body)
	}
	// The reconciler's own commit of x fails, once.
	g.prod.add(&gateRule{method: http.MethodPost, pathHas: x + "-1/commit", action: gateFail503, times: 1})
	release()
	g.prod.clear()
	// Right after that pass, and after the next: an acknowledged order
	// stays confirmed.
	for pass := range 2 {
		if o := orderOf(t, g.getOrder(t, "alice-token", x)); o.Status != StatusConfirmed {
			t.Fatalf("after pass %d, acknowledged order %s went back to %s", pass+1, x, o.Status)
		}
		_, _ = g.svc.Reconcile(context.Background())
	}
	if again := g.order(t, "alice-token", "replayed", items(product.Item{ProductID: "prd_005", Quantity: 1})); again.Status != http.StatusCreated || string(again.Body) != string(first.Body) {
		t.Fatalf("replay after the pass: %d %s, want the first answer %s", again.Status, again.Body, first.Body)
	}
}

// TestSecondConfirmKeepsTheTotal is finding 3: a confirmed order lost its
// total and currency when the reconciler confirmed it a second time from
// a copy it loaded before the order was priced.
func TestSecondConfirmKeepsTheTotal(t *testing.T) {
	g := newGated(t)
	w := g.stuck(t, "slow-first", product.Item{ProductID: "prd_003", Quantity: 1})
	g.clock.Advance(time.Second)
	// x's reservation never lands and its release fails: x is left
	// unpriced (pending before the fix).
	g.prod.add(&gateRule{method: http.MethodPost, pathHas: "/internal/reservations", action: gateFail503, times: 1})
	g.prod.add(&gateRule{method: http.MethodPost, pathHas: "/release", action: gateFail503, times: 1})
	line := product.Item{ProductID: "prd_005", Quantity: 1}
	r := g.order(t, "alice-token", "unpriced", items(line))
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("first try: %d %s", r.Status, r.Body)
	}
	x := ""
	all, err := NewClient(g.url, nil, kittest.Keys.Service).List(context.Background(), "alice-token")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		if o.ID != w {
			x = o.ID
		}
	}
	g.clock.Advance(time.Minute)

	release := g.reconcileHeld(w)
	first := g.order(t, "alice-token", "unpriced", items(line))
	if first.Status != http.StatusCreated {
		t.Fatalf("replay: %d %s", first.Status, first.Body)
	}
	release()
	_, _ = g.svc.Reconcile(context.Background())
	o := orderOf(t, g.getOrder(t, "alice-token", x))
	told := orderOf(t, first)
	if o.Status != StatusConfirmed || o.TotalCents != 399 || o.Currency != "EUR" || o.TotalCents != told.TotalCents || o.PaymentID != told.PaymentID || o.Items[0].UnitPriceCents != 399 {
		t.Fatalf("stored %+v, but the client was told %+v", o, told)
	}
	if sum := g.charges(t); sum.TotalAmount != 399+799 {
		t.Fatalf("charges: %+v", sum)
	}
}

// TestOlderAttemptIsNeverSold is finding 2: the reconciler committed an
// older attempt's reservation on top of the one already committed, and
// stock was sold twice. Here the first attempt's reservation lands late,
// after its release and after a replay ran the order again.
func TestOlderAttemptIsNeverSold(t *testing.T) {
	g := newGated(t)
	w := g.stuck(t, "slow-first", product.Item{ProductID: "prd_003", Quantity: 1})
	g.clock.Advance(time.Second)
	late := g.prod.add(&gateRule{method: http.MethodPost, pathHas: "/internal/reservations", action: gateLate, times: 1})
	g.prod.add(&gateRule{method: http.MethodPost, pathHas: "/release", action: gateFail503, times: 1})
	line := product.Item{ProductID: "prd_006", Quantity: 1} // 150 in stock
	if r := g.order(t, "alice-token", "late", items(line)); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("first try: %d %s", r.Status, r.Body)
	}
	// Within a lease term: a call that was given up cannot land later
	// than that (the clients' timeouts are shorter).
	g.clock.Advance(time.Second)

	release := g.reconcileHeld(w)
	if r := g.order(t, "alice-token", "late", items(line)); r.Status != http.StatusCreated {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	close(late.release) // the first attempt's reservation lands now
	<-late.arrived
	release()
	for range 2 {
		_, _ = g.svc.Reconcile(context.Background())
	}
	if l := g.level(t, "prd_006"); l.Sold != 1 || l.Reserved != 0 || l.Available != 149 {
		t.Fatalf("one unit ordered once: %+v", l)
	}
}

// TestFailedReleaseIsRetriedUntilItLands is finding 4: a release that
// failed was dropped, and the stock stayed reserved for good.
func TestFailedReleaseIsRetriedUntilItLands(t *testing.T) {
	g := newGated(t)
	g.pay.add(&gateRule{method: http.MethodPost, pathHas: "/payments", action: gateFail503})
	g.prod.add(&gateRule{method: http.MethodPost, pathHas: "/release", action: gateFail503, times: 2})
	r := g.order(t, "alice-token", "leak", items(product.Item{ProductID: "prd_002", Quantity: 3}))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get(problem.DependencyHeader) != "payment" {
		t.Fatalf("payment unavailable: %d %s", r.Status, r.Body)
	}
	// The first pass fails to release too; the second lands it.
	for range 2 {
		_, _ = g.svc.Reconcile(context.Background())
	}
	if l := g.level(t, "prd_002"); l.Reserved != 0 || l.Available != 50 {
		t.Fatalf("stock still held after the release failed: %+v", l)
	}
}

// TestPaymentRefusalIsFinal is finding 5: a total above payment's maximum
// made payment answer 400, and the client got a retryable 503 forever.
func TestPaymentRefusalIsFinal(t *testing.T) {
	g := newGated(t)
	var ids []string
	for i := range 2 {
		r := kittest.Call(t, http.MethodPost, g.prodURL+"/products", map[string]any{
			"name": "Gold bar " + string(rune('A'+i)), "price_cents": 100_000_000, "stock": 20_000,
		}, auth.GatewayKeyHeader, kittest.Keys.Gateway, "Authorization", "Bearer admin-token")
		if r.Status != http.StatusCreated {
			t.Fatalf("product: %d %s", r.Status, r.Body)
		}
		var p product.Product
		r.JSON(t, &p)
		ids = append(ids, p.ID)
	}
	// 2 × 10,000 × 1e8 cents = 2e12, above payment.MaxAmount (1e12).
	body := items(product.Item{ProductID: ids[0], Quantity: 10_000}, product.Item{ProductID: ids[1], Quantity: 10_000})
	r := g.order(t, "alice-token", "too-much", body)
	if r.Status != http.StatusUnprocessableEntity || r.Header.Get("Retry-After") != "" || !strings.Contains(string(r.Body), "payment refused") || !strings.Contains(string(r.Body), "amount") {
		t.Fatalf("total above payment's maximum: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	id := idOf(t, r)
	if o := orderOf(t, g.getOrder(t, "alice-token", id)); o.Status != StatusFailed || o.Reason != "payment_refused" {
		t.Fatalf("order: %+v", o)
	}
	if again := g.order(t, "alice-token", "too-much", body); again.Status != r.Status || string(again.Body) != string(r.Body) {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	if l := g.level(t, ids[0]); l.Reserved != 0 || l.Sold != 0 {
		t.Fatalf("stock: %+v", l)
	}
	if s := g.charges(t); s.TotalCharges != 0 {
		t.Fatalf("charges: %+v", s)
	}
}

// TestUnavailableNamesTheDependency is issue 17's point 5: while product
// was down, order's 503s named payment.
func TestUnavailableNamesTheDependency(t *testing.T) {
	for _, dep := range []string{"product", "payment"} {
		t.Run(dep, func(t *testing.T) {
			g := newGated(t)
			down := g.pay
			if dep == "product" {
				down = g.prod
			}
			down.add(&gateRule{action: gateDown})
			r := g.order(t, "alice-token", "down-"+dep, items(product.Item{ProductID: "prd_001", Quantity: 1}))
			if r.Status != http.StatusServiceUnavailable || r.Header.Get(problem.DependencyHeader) != dep ||
				r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), dep) {
				t.Fatalf("%s down: %d %s=%q %s", dep, r.Status, problem.DependencyHeader, r.Header.Get(problem.DependencyHeader), r.Body)
			}
			var p problem.Error
			r.JSON(t, &p)
			if other := map[string]string{"product": "payment", "payment": "product"}[dep]; strings.Contains(p.Detail, other) {
				t.Fatalf("detail blames %s: %q", other, p.Detail)
			}
		})
	}
}

// TestTwoIdempotencyKeys: two Idempotency-Key headers are refused (issue
// 10, point 4), as is a body with a key given twice.
func TestTwoIdempotencyKeysAndDuplicateJSONKeys(t *testing.T) {
	f := newFixture(t, "")
	send := func(body string, keys ...string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, f.url+RouteOrders, bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(auth.GatewayKeyHeader, kittest.Keys.Gateway)
		req.Header.Set("Authorization", "Bearer alice-token")
		for _, k := range keys {
			req.Header.Add(kit.IdempotencyKeyHeader, k)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	one := `{"items":[{"product_id":"prd_001","quantity":1}]}`
	if st, b := send(one, "two-a", "two-b"); st != http.StatusBadRequest || !strings.Contains(b, "Idempotency-Key") {
		t.Fatalf("two keys: %d %s", st, b)
	}
	if st, b := send(`{"items":[{"product_id":"prd_001","quantity":1}],"items":[{"product_id":"prd_002","quantity":9}]}`, "dup-json"); st != http.StatusBadRequest || !strings.Contains(b, "duplicate key") {
		t.Fatalf("duplicate JSON key: %d %s", st, b)
	}
	if s := f.charges(t); s.TotalCharges != 0 {
		t.Fatalf("charged: %+v", s)
	}
}

// TestEmptyItemsSaysTheRealLimit: the error for an empty item list named
// product's limit (50), not order's (20).
func TestEmptyItemsSaysTheRealLimit(t *testing.T) {
	f := newFixture(t, "")
	r := f.order(t, "alice-token", "empty", items())
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "1 to 20 lines") || strings.Contains(string(r.Body), "1 to 50") {
		t.Fatalf("empty items: %d %s", r.Status, r.Body)
	}
}

// TestChargeThatLandedIsAdopted is what the first history-checked lab run
// found (payment-down): a charge attempt landed but its answer was lost,
// the client's retry got 503, payment could not be asked, and the order was
// interrupted with its stock released while the money was taken. The
// reconciler asks payment again once every attempt is over, and adopts
// the charge: the order runs again and is confirmed, charged once.
func TestChargeThatLandedIsAdopted(t *testing.T) {
	g := newGated(t)
	// A first order warms the connection, so that net/http retries the
	// charge whose connection broke (as the resilience client would).
	if r := g.order(t, "alice-token", "warm", items(product.Item{ProductID: "prd_001", Quantity: 1})); r.Status != http.StatusCreated {
		t.Fatalf("warm-up: %d %s", r.Status, r.Body)
	}
	g.pay.add(&gateRule{method: http.MethodPost, pathHas: "/payments", action: gateDropResponse, times: 1})
	g.pay.add(&gateRule{method: http.MethodPost, pathHas: "/payments", action: gateFail503, times: 1})
	g.pay.add(&gateRule{method: http.MethodGet, pathHas: "/internal/payments", action: gateFail503, times: 1})
	line := product.Item{ProductID: "prd_004", Quantity: 1}
	r := g.order(t, "alice-token", "landed", items(line))
	g.pay.clear()
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("charge answer lost, retry refused: %d %s", r.Status, r.Body)
	}
	if s := g.charges(t); s.TotalCharges != 2 {
		t.Fatalf("want the landed charge (and the warm-up's): %+v", s)
	}
	for range 2 {
		g.clock.Advance(11 * time.Second)
		_, _ = g.svc.Reconcile(context.Background())
	}
	all, err := NewClient(g.url, nil, kittest.Keys.Service).List(context.Background(), "alice-token")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		if o.Status != StatusConfirmed || o.PaymentID == "" {
			t.Fatalf("order %+v: a charged order must end confirmed", o)
		}
	}
	if l := g.level(t, "prd_004"); l.Sold != 1 || l.Reserved != 0 {
		t.Fatalf("stock: %+v", l)
	}
	again := g.order(t, "alice-token", "landed", items(line))
	if again.Status != http.StatusCreated {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	if s := g.charges(t); s.TotalCharges != 2 {
		t.Fatalf("charges: %+v", s)
	}
}

// TestWaitingOrderKeepsItsReservation: an order that waits for payment's
// answer longer than a reservation's TTL keeps its stock: every reconciler
// pass renews the reservation, so product never expires it, and the order
// is confirmed with the stock it reserved once payment answers.
func TestWaitingOrderKeepsItsReservation(t *testing.T) {
	g := newGated(t)
	id := g.stuck(t, "waits", product.Item{ProductID: "prd_002", Quantity: 2}) // 2,500 cents
	g.pay.add(&gateRule{method: http.MethodGet, pathHas: "/internal/payments", action: gateFail503})
	for range 4 { // 24 minutes, 2.4 TTLs
		g.clock.Advance(6 * time.Minute)
		if _, err := g.svc.Reconcile(context.Background()); err == nil {
			t.Fatal("reconcile settled an order payment cannot answer for")
		}
		held, err := g.products.Reservations(context.Background(), product.StateReserved)
		if err != nil || len(held) != 1 || held[0].ID != ReservationID(id, 1) || !held[0].ExpiresAt.After(g.clock.Now()) {
			t.Fatalf("after %v: held %+v %v", g.clock.Now(), held, err)
		}
	}
	if gone, _ := g.products.Reservations(context.Background(), product.StateExpired); len(gone) != 0 {
		t.Fatalf("expired meanwhile: %+v", gone)
	}
	g.pay.clear()
	if n, err := g.svc.Reconcile(context.Background()); err != nil || n != 1 {
		t.Fatalf("reconcile once payment answers: %d %v", n, err)
	}
	if l := g.level(t, "prd_002"); l.Sold != 2 || l.Reserved != 0 || l.Available != 48 {
		t.Fatalf("stock: %+v", l)
	}
}

// The answer to POST /orders gives the same timestamps as GET: both at the
// store's millisecond resolution (regression: POST gave nanoseconds).
func TestTimestampsAgreeBetweenPostAndGet(t *testing.T) {
	f := newFixture(t, "")
	f.clock.Advance(123456789 * time.Nanosecond)
	r := f.order(t, "alice-token", "k-ts", items(product.Item{ProductID: "prd_003", Quantity: 1}))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var posted, got map[string]any
	r.JSON(t, &posted)
	g := f.getOrder(t, "alice-token", posted["id"].(string))
	g.JSON(t, &got)
	for _, k := range []string{"created_at", "updated_at"} {
		if posted[k] != got[k] || posted[k] != "2030-01-02T03:04:05.123Z" {
			t.Errorf("%s: POST %v, GET %v, want both 2030-01-02T03:04:05.123Z", k, posted[k], got[k])
		}
	}
}

// chargeBegun leaves an order as a crash of payment between its Begin and
// its Complete would (issue 13, TestCrashSafetyOnPostgres): the order is
// reserved and priced under a dead run's lease, and its charge is a
// processing row under a dead request's claim. status is the order's
// status: pending (the run's answer was lost) or interrupted (the run was
// a fresh request, and queued a verify_charge).
func (f *fixture) chargeBegun(t testing.TB, key, status string) Record {
	t.Helper()
	ctx := context.Background()
	now := f.cfg.Now()
	rec := f.crashed(t, key, true, false)
	cur, err := f.svc.store.Get(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := cur
	next.Items = []Line{{ProductID: "prd_004", Quantity: 2, UnitPriceCents: 2499}}
	next.TotalCents, next.Currency = 4998, "EUR"
	if cur, err = f.svc.store.Transition(ctx, next, StatusPending, "run_dead", now, Change{Actor: ActorRequest}); err != nil {
		t.Fatal(err)
	}
	if status == StatusInterrupted {
		next = cur
		next.Status, next.Reason = StatusInterrupted, ReasonPaymentUnavailable
		ch := Change{Actor: ActorRequest, Release: []string{reservationID(&cur)}, VerifyCharge: true}
		if cur, err = f.svc.store.Transition(ctx, next, StatusPending, "run_dead", now, ch); err != nil {
			t.Fatal(err)
		}
		if _, err := f.products.Release(ctx, reservationID(&cur)); err != nil {
			t.Fatal(err)
		}
	}
	req := payment.ChargeRequest{OrderID: rec.ID, UserID: "usr_alice", AmountCents: 4998, Currency: "EUR"}
	begun := payment.Record{
		Payment: payment.Payment{ID: kit.NewID("pay_"), OrderID: req.OrderID, UserID: req.UserID, AmountCents: req.AmountCents,
			Currency: req.Currency, CreatedAt: now, UpdatedAt: now},
		Key: PaymentKey(rec.ID), Fingerprint: kit.Fingerprint(req),
	}
	if _, created, err := f.payStore.Begin(ctx, begun, now.Add(payment.DefaultLeaseTTL)); err != nil || !created {
		t.Fatalf("begin the charge: %v %v", created, err)
	}
	return cur
}

// TestChargeLeftProcessingIsFinished is the cause of issue 13's crash-test
// failure: payment was killed between Begin and Complete of a charge, so
// its row stayed processing; the order, priced, asked payment every
// reconciler pass, heard "processing" and waited, and payment, which
// finishes a processing charge only when its key is asked again, waited
// too: the order stayed pending and the charge processing for good. The
// reconciler now asks payment to finish such a charge (same key, same
// request): refused with 409 while the dead request's claim lasts, taken
// over and completed after it. Both the pending order and the interrupted
// one (verify_charge) are settled, charged once.
func TestChargeLeftProcessingIsFinished(t *testing.T) {
	for _, status := range []string{StatusPending, StatusInterrupted} {
		t.Run(status, func(t *testing.T) {
			f := newFixture(t, t.TempDir())
			rec := f.chargeBegun(t, "begun", status)
			if n, err := f.svc.Reconcile(context.Background()); n != 0 {
				t.Fatalf("reconcile under live leases: %d %v", n, err)
			}
			if s := f.charges(t); s.Processing != 1 || s.TotalCharges != 0 {
				t.Fatalf("under the dead request's claim: %+v", s)
			}
			for range 2 { // past both leases; verify_charge adopts, then drives
				f.clock.Advance(DefaultLeaseTTL + time.Millisecond)
				_, _ = f.svc.Reconcile(context.Background())
			}
			r := f.getOrder(t, "alice-token", rec.ID)
			if o := orderOf(t, r); o.Status != StatusConfirmed || o.PaymentID == "" {
				t.Fatalf("order: %s", r.Body)
			}
			if s := f.charges(t); s.Processing != 0 || s.TotalCharges != 1 {
				t.Fatalf("charges: %+v", s)
			}
			if l := f.level(t, "prd_004"); l.Sold != 2 || l.Reserved != 0 {
				t.Fatalf("stock: %+v", l)
			}
		})
	}
}
