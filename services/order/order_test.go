package order

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
)

// switchable answers 503 while down is set, as an unavailable upstream would.
type switchable struct {
	h    http.Handler
	down atomic.Bool
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		problem.Write(w, r, problem.Unavailable("down for the test", 0))
		return
	}
	s.h.ServeHTTP(w, r)
}

type fixture struct {
	svc      *Service
	url      string
	products *product.Client
	payments *payment.Client
	payDown  *switchable
	payStore payment.Store // payment's own store
	dir      string
	cfg      Config
	clock    *kittest.Clock
}

func newFixture(t testing.TB, dir string) *fixture {
	t.Helper()
	clock := kittest.NewClock()
	prod, pay, payStore := upstreams(t, clock)
	sw := &switchable{h: pay}
	f := fixtureOver(t, clock, dir, kittest.Serve(t, prod).URL, kittest.Serve(t, sw).URL)
	f.payDown, f.payStore = sw, payStore
	return f
}

// upstreams builds real product and payment services on clock (payment
// declines above 5000 cents), and returns payment's store too.
func upstreams(t testing.TB, clock *kittest.Clock) (*product.Service, *payment.Service, payment.Store) {
	t.Helper()
	base := kit.Base{Keys: kittest.Keys, Now: clock.Now}
	prod := kittest.Build(t, product.New, product.Config{Base: base, Tokens: kit.Tokens{Validator: kittest.Validator}})
	payStore, err := payment.OpenStore(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	pay := kittest.Build(t, payment.New, payment.Config{Base: base, Tokens: kit.Tokens{Validator: kittest.Validator}, DeclineAbove: 5000, Store: payStore})
	return prod, pay, payStore
}

// fixtureOver starts an order service in dir that reaches product and
// payment at prodURL and payURL.
func fixtureOver(t testing.TB, clock *kittest.Clock, dir, prodURL, payURL string) *fixture {
	t.Helper()
	cfg := Config{Base: kit.Base{Keys: kittest.Keys, Now: clock.Now, PublicURL: "https://shop.example"}, Tokens: kit.Tokens{Validator: kittest.Validator},
		DataDir: dir, ProductURL: prodURL, PaymentURL: payURL}
	f := &fixture{
		products: product.NewClient(prodURL, nil, kittest.Keys.Service),
		payments: payment.NewClient(payURL, nil, kittest.Keys.Service),
		dir:      dir, cfg: cfg, clock: clock,
	}
	f.start(t)
	return f
}

func (f *fixture) start(t testing.TB) {
	t.Helper()
	svc, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	f.svc, f.url = svc, kittest.Serve(t, svc).URL
}

func (f *fixture) order(t testing.TB, token, key string, body any) kittest.Response {
	t.Helper()
	return kittest.Call(t, http.MethodPost, f.url+RouteOrders, body,
		auth.GatewayKeyHeader, kittest.Keys.Gateway, "Authorization", "Bearer "+token, kit.IdempotencyKeyHeader, key)
}

func (f *fixture) getOrder(t testing.TB, token, id string) kittest.Response {
	t.Helper()
	return kittest.Call(t, http.MethodGet, f.url+"/orders/"+id, nil,
		auth.GatewayKeyHeader, kittest.Keys.Gateway, "Authorization", "Bearer "+token)
}

func (f *fixture) level(t testing.TB, id string) product.StockLevel {
	t.Helper()
	s, err := f.products.Stock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Consistent {
		t.Fatalf("stock inconsistent: %+v", s)
	}
	for _, l := range s.Products {
		if l.ProductID == id {
			return l
		}
	}
	t.Fatalf("no product %s", id)
	return product.StockLevel{}
}

func (f *fixture) charges(t testing.TB) payment.Summary {
	t.Helper()
	s, err := f.payments.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.DuplicateOrders) > 0 {
		t.Fatalf("duplicate charges: %+v", s.DuplicateOrders)
	}
	return s
}

func items(lines ...product.Item) CreateRequest { return CreateRequest{Items: lines} }

func TestOrderHappyPathAndReplay(t *testing.T) {
	f := newFixture(t, "")
	body := items(product.Item{ProductID: "prd_003", Quantity: 2}, product.Item{ProductID: "prd_005", Quantity: 1})
	r := f.order(t, "alice-token", "k-1", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var o Order
	r.JSON(t, &o)
	if o.Status != StatusConfirmed || o.TotalCents != 2*799+399 || o.Currency != "EUR" || o.PaymentID == "" || o.UserID != "usr_alice" {
		t.Fatalf("order: %+v", o)
	}
	if r.Header.Get("Location") != "https://shop.example/api/v1/orders/"+o.ID {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	if l := f.level(t, "prd_003"); l.Sold != 2 || l.Reserved != 0 {
		t.Fatalf("stock: %+v", l)
	}

	again := f.order(t, "alice-token", "k-1", body)
	if again.Status != r.Status || string(again.Body) != string(r.Body) || again.Header.Get("Location") != r.Header.Get("Location") {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	if s := f.charges(t); s.TotalCharges != 1 {
		t.Fatalf("charges after replay: %+v", s)
	}
	if l := f.level(t, "prd_003"); l.Sold != 2 {
		t.Fatalf("stock after replay: %+v", l)
	}
	if r := f.order(t, "alice-token", "k-1", items(product.Item{ProductID: "prd_003", Quantity: 3})); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s", r.Status, r.Body)
	}
	// Keys are per user: bob's k-1 is a new order.
	if r := f.order(t, "bob-token", "k-1", body); r.Status != http.StatusCreated || strings.Contains(string(r.Body), o.ID) {
		t.Fatalf("bob's k-1: %d %s", r.Status, r.Body)
	}

	t.Run("reads", func(t *testing.T) {
		for _, tc := range []struct {
			token string
			want  int
		}{{"alice-token", 200}, {"admin-token", 200}, {"bob-token", 404}, {"nope", 401}} {
			if r := f.getOrder(t, tc.token, o.ID); r.Status != tc.want {
				t.Fatalf("%s: %d, want %d", tc.token, r.Status, tc.want)
			}
		}
		if r := f.getOrder(t, "alice-token", "ord_missing"); r.Status != 404 {
			t.Fatalf("missing: %d", r.Status)
		}
		l := kittest.Call(t, http.MethodGet, f.url+RouteOrders, nil, auth.GatewayKeyHeader, kittest.Keys.Gateway, "Authorization", "Bearer bob-token")
		var list List
		l.JSON(t, &list)
		if len(list.Items) != 1 || list.Items[0].UserID != "usr_bob" {
			t.Fatalf("bob's list: %+v", list)
		}
	})
}

func TestOrderValidation(t *testing.T) {
	f := newFixture(t, "")
	many := CreateRequest{}
	for i := range 21 {
		many.Items = append(many.Items, product.Item{ProductID: "p" + string(rune('a'+i)), Quantity: 1})
	}
	for _, tc := range []struct {
		name string
		key  string
		body any
		want int
	}{
		{"missing key", "", items(product.Item{ProductID: "prd_001", Quantity: 1}), 400},
		{"key with control char", "a\tb", items(product.Item{ProductID: "prd_001", Quantity: 1}), 400},
		{"key too long", strings.Repeat("k", 256), items(product.Item{ProductID: "prd_001", Quantity: 1}), 400},
		{"empty items", "v1", items(), 400},
		{"zero quantity", "v2", items(product.Item{ProductID: "prd_001", Quantity: 0}), 400},
		{"negative quantity", "v3", items(product.Item{ProductID: "prd_001", Quantity: -1}), 400},
		{"duplicate lines", "v4", items(product.Item{ProductID: "prd_001", Quantity: 1}, product.Item{ProductID: "prd_001", Quantity: 2}), 400},
		{"too many lines", "v5", many, 400},
		{"unknown field", "v6", `{"items":[],"total":1}`, 400},
		{"not JSON", "v7", `items=1`, 400},
		{"unknown product", "v8", items(product.Item{ProductID: "prd_nope", Quantity: 1}), 422},
		{"insufficient stock", "v9", items(product.Item{ProductID: "prd_008", Quantity: 11}), 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.order(t, "alice-token", tc.key, tc.body)
			if r.Status != tc.want || r.Header.Get("Content-Type") != problem.ContentType {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
		})
	}
	if l := f.level(t, "prd_008"); l.Available != 10 {
		t.Fatalf("stock moved: %+v", l)
	}
	if s := f.charges(t); s.TotalCharges != 0 {
		t.Fatalf("charges: %+v", s)
	}
}

func TestDeclinedPaymentReleasesStock(t *testing.T) {
	f := newFixture(t, "")
	r := f.order(t, "alice-token", "dec", items(product.Item{ProductID: "prd_007", Quantity: 1}))
	if r.Status != http.StatusPaymentRequired {
		t.Fatalf("declined: %d %s", r.Status, r.Body)
	}
	if l := f.level(t, "prd_007"); l.Available != 20 || l.Reserved != 0 {
		t.Fatalf("stock: %+v", l)
	}
	list := kittest.Call(t, http.MethodGet, f.url+RouteOrders, nil, auth.GatewayKeyHeader, kittest.Keys.Gateway, "Authorization", "Bearer alice-token")
	var l List
	list.JSON(t, &l)
	if len(l.Items) != 1 || l.Items[0].Status != StatusFailed || l.Items[0].Reason != ReasonPaymentDeclined {
		t.Fatalf("orders: %+v", l)
	}
	if again := f.order(t, "alice-token", "dec", items(product.Item{ProductID: "prd_007", Quantity: 1})); again.Status != 402 || string(again.Body) != string(r.Body) {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
}

func TestListPages(t *testing.T) {
	f := newFixture(t, "")
	place := func(key string) string {
		t.Helper()
		r := f.order(t, "alice-token", key, items(product.Item{ProductID: "prd_003", Quantity: 1}))
		var o Order
		r.JSON(t, &o)
		return o.ID
	}
	var ids []string
	for i := range 3 {
		ids = append(ids, place(fmt.Sprintf("page-%d", i)))
		f.clock.Advance(time.Second) // distinct created_at: newest first is well defined
	}
	// Two in the same millisecond: the id breaks the tie.
	ids = append(ids, place("page-3"), place("page-4"))
	f.order(t, "bob-token", "page-bob", items(product.Item{ProductID: "prd_003", Quantity: 1}))
	get := func(query string) (kittest.Response, List) {
		r := kittest.Call(t, http.MethodGet, f.url+RouteOrders+query, nil, auth.GatewayKeyHeader, kittest.Keys.Gateway, "Authorization", "Bearer alice-token")
		var l List
		if r.Status == http.StatusOK {
			r.JSON(t, &l)
		}
		return r, l
	}
	r, l := get("?limit=2")
	if r.Status != 200 || l.Total != 5 || len(l.Items) != 2 || l.NextCursor == "" {
		t.Fatalf("first page: %d %+v", r.Status, l)
	}
	// The next link is the gateway's, never this service's address.
	if want := `<https://shop.example/api/v1/orders?limit=2&cursor=` + l.NextCursor + `>; rel="next"`; r.Header.Get("Link") != want {
		t.Fatalf("Link %q, want %q", r.Header.Get("Link"), want)
	}
	seen := []string{l.Items[0].ID, l.Items[1].ID}
	// An order placed while the client pages does not shift what is left.
	f.clock.Advance(time.Second)
	newest := place("page-while-paging")
	for l.NextCursor != "" {
		r, l = get("?limit=2&cursor=" + l.NextCursor)
		if r.Status != 200 {
			t.Fatalf("next page: %d %s", r.Status, r.Body)
		}
		for _, o := range l.Items {
			seen = append(seen, o.ID)
		}
		if (l.NextCursor == "") != (r.Header.Get("Link") == "") {
			t.Fatalf("next_cursor %q but Link %q", l.NextCursor, r.Header.Get("Link"))
		}
	}
	// Newest first: the last three by time, the tied pair by id, then the
	// first two.
	tied := []string{ids[3], ids[4]}
	slices.Sort(tied)
	want := []string{tied[0], tied[1], ids[2], ids[1], ids[0]}
	if !slices.Equal(seen, want) {
		t.Fatalf("paged through %v, want %v (each once, in order)", seen, want)
	}
	if _, l := get("?limit=1"); len(l.Items) != 1 || l.Items[0].ID != newest || l.Total != 6 {
		t.Fatalf("after paging, the first page is %+v, want the order placed meanwhile", l)
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?offset=2", "?limit=x", "?limit=1&limit=2", "?limit=%zz",
		"?cursor=", "?cursor=x", "?cursor=" + CursorAfter(Order{ID: "ord_1"}).String() + "&cursor=" + CursorAfter(Order{ID: "ord_2"}).String(),
		"?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("-1.ord_1")), "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("12.../x"))} {
		if r, _ := get(q); r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Header.Get("Content-Type"), problem.ContentType) {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []Cursor{{CreatedAt: 0, ID: "ord_a"}, {CreatedAt: 1764590400123, ID: "ord_01JXYZ"}} {
		got, ok := ParseCursor(c.String())
		if !ok || got != c {
			t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", c.String(), got, ok, c)
		}
	}
	for _, s := range []string{"", "!!", base64.RawURLEncoding.EncodeToString([]byte("12")), base64.RawURLEncoding.EncodeToString([]byte("012.ord_a")),
		base64.RawURLEncoding.EncodeToString([]byte("12.")), strings.Repeat("A", 200)} {
		if c, ok := ParseCursor(s); ok {
			t.Errorf("ParseCursor(%q) = %+v, want it refused", s, c)
		}
	}
}

func TestPaymentUnavailableThenRetry(t *testing.T) {
	f := newFixture(t, "")
	body := items(product.Item{ProductID: "prd_002", Quantity: 3})
	f.payDown.down.Store(true)
	r := f.order(t, "alice-token", "pu", body)
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("payment down: %d %s", r.Status, r.Body)
	}
	// order is up and says whose fault it is, so its callers neither retry
	// it nor count it against order's breaker.
	if dep := r.Header.Get(problem.DependencyHeader); dep != "payment" {
		t.Fatalf("%s = %q, want payment", problem.DependencyHeader, dep)
	}
	if l := f.level(t, "prd_002"); l.Available != 50 || l.Reserved != 0 {
		t.Fatalf("stock held while payment is down: %+v", l)
	}
	var p problem.Error
	r.JSON(t, &p)
	if len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Detail, ReasonPaymentUnavailable) {
		t.Fatalf("problem: %+v", p)
	}
	id := strings.Fields(p.Errors[0].Detail)[0]
	if g := f.getOrder(t, "alice-token", id); !strings.Contains(string(g.Body), `"status":"interrupted"`) {
		t.Fatalf("order: %s", g.Body)
	}

	f.payDown.down.Store(false)
	r = f.order(t, "alice-token", "pu", body)
	if r.Status != http.StatusCreated {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	var o Order
	r.JSON(t, &o)
	if o.ID != id || o.Status != StatusConfirmed {
		t.Fatalf("retry made another order or did not confirm: %+v (first %s)", o, id)
	}
	if l := f.level(t, "prd_002"); l.Sold != 3 || l.Reserved != 0 {
		t.Fatalf("stock: %+v", l)
	}
	if s := f.charges(t); s.TotalCharges != 1 {
		t.Fatalf("charges: %+v", s)
	}
}

// crashed leaves a pending order as a crash after Begin would.
func (f *fixture) crashed(t testing.TB, key string, reserve, charge bool) Record {
	t.Helper()
	ctx := context.Background()
	now := f.cfg.Now()
	lines := []product.Item{{ProductID: "prd_004", Quantity: 2}}
	rec := Record{
		Order: Order{ID: kit.NewID("ord_"), UserID: "usr_alice", Status: StatusPending,
			Items: []Line{{ProductID: "prd_004", Quantity: 2}}, CreatedAt: now, UpdatedAt: now},
		Key: key, Fingerprint: kit.Fingerprint(lines), Attempt: 1,
	}
	// The dead run's lease lasts its full term.
	if _, created, err := f.svc.store.Begin(ctx, rec, "run_dead", now.Add(DefaultLeaseTTL), Change{Actor: ActorRequest}); err != nil || !created {
		t.Fatal(err)
	}
	if reserve {
		if _, err := f.products.Reserve(ctx, reservationID(&rec), lines); err != nil {
			t.Fatal(err)
		}
	}
	if charge {
		if _, err := f.payments.Charge(ctx, PaymentKey(rec.ID), payment.ChargeRequest{OrderID: rec.ID, UserID: "usr_alice", AmountCents: 4998, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

func TestReconcile(t *testing.T) {
	f := newFixture(t, t.TempDir())
	paid := f.crashed(t, "c1", true, true)
	unpaid := f.crashed(t, "c2", true, false)
	early := f.crashed(t, "c3", false, false)
	if l := f.level(t, "prd_004"); l.Reserved != 4 {
		t.Fatalf("before: %+v", l)
	}
	// The process restarts on the same data.
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	// While the dead runs' leases last, the reconciler leaves their
	// orders alone: it cannot tell a dead run from a slow one.
	if n, err := f.svc.Reconcile(context.Background()); err != nil || n != 0 {
		t.Fatalf("reconcile under live leases: %d %v", n, err)
	}
	f.clock.Advance(DefaultLeaseTTL + time.Millisecond)
	n, err := f.svc.Reconcile(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("reconcile: %d %v", n, err)
	}
	// Each crashed run is driven to an answer from the upstreams: the
	// charged one is committed, the others reserve (again: idempotent by
	// attempt) and charge once.
	for _, rec := range []Record{paid, unpaid, early} {
		r := f.getOrder(t, "alice-token", rec.ID)
		if !strings.Contains(string(r.Body), `"status":"confirmed"`) {
			t.Fatalf("%s: %s", rec.Key, r.Body)
		}
	}
	if l := f.level(t, "prd_004"); l.Reserved != 0 || l.Sold != 6 || l.Available != 24 {
		t.Fatalf("after: %+v", l)
	}
	if s := f.charges(t); s.TotalCharges != 3 {
		t.Fatalf("charges: %+v", s)
	}
	// The client's retry gets the settled order, and no second charge.
	r := f.order(t, "alice-token", "c2", items(product.Item{ProductID: "prd_004", Quantity: 2}))
	if r.Status != http.StatusCreated || !strings.Contains(string(r.Body), unpaid.ID) {
		t.Fatalf("retry after reconcile: %d %s", r.Status, r.Body)
	}
	if s := f.charges(t); s.TotalCharges != 3 {
		t.Fatalf("charges: %+v", s)
	}
}

func TestInFlightDuplicate(t *testing.T) {
	f := newFixture(t, "")
	rec := f.crashed(t, "busy", false, false)
	body := items(product.Item{ProductID: "prd_004", Quantity: 2})
	r := f.order(t, "alice-token", "busy", body)
	if r.Status != http.StatusConflict || r.Header.Get("Retry-After") == "" {
		t.Fatalf("in flight: %d %s", r.Status, r.Body)
	}
	// The lease ran out: the replay takes the order over and settles it.
	f.clock.Advance(DefaultLeaseTTL)
	r = f.order(t, "alice-token", "busy", body)
	if r.Status != http.StatusCreated || !strings.Contains(string(r.Body), rec.ID) {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	if l := f.level(t, "prd_004"); l.Sold != 2 || l.Reserved != 0 {
		t.Fatalf("stock: %+v", l)
	}
}

func TestClient(t *testing.T) {
	f := newFixture(t, "")
	c := NewClient(f.url, nil, kittest.Keys.Service)
	ctx := context.Background()
	o, err := c.Create(ctx, "alice-token", "cl-1", []product.Item{{ProductID: "prd_001", Quantity: 1}})
	if err != nil || o.Status != StatusConfirmed {
		t.Fatalf("create: %+v %v", o, err)
	}
	if g, err := c.Get(ctx, "alice-token", o.ID); err != nil || g.ID != o.ID {
		t.Fatalf("get: %+v %v", g, err)
	}
	if _, err := c.Get(ctx, "bob-token", o.ID); kit.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("bob: %v", err)
	}
	if l, err := c.List(ctx, "alice-token"); err != nil || len(l) != 1 {
		t.Fatalf("list: %+v %v", l, err)
	}
}
