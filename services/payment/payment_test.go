package payment

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/syncbuf"
)

type fixture struct {
	svc   *Service
	url   string
	clock *kittest.Clock
	c     *Client
}

func newFixture(t testing.TB, dir string) *fixture {
	t.Helper()
	clock := kittest.NewClock()
	s, err := New(Config{Base: kit.Base{Keys: kittest.Keys, Now: clock.Now}, Tokens: kit.Tokens{Validator: kittest.Validator}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	url := kittest.Serve(t, s).URL
	return &fixture{svc: s, url: url, clock: clock, c: NewClient(url, nil, kittest.Keys.Service)}
}

var svcKey = []string{auth.ServiceKeyHeader, kittest.Keys.Service}

func (f *fixture) post(t testing.TB, key string, body any) kittest.Response {
	t.Helper()
	return kittest.Call(t, http.MethodPost, f.url+RoutePayments, body, append(svcKey, kit.IdempotencyKeyHeader, key)...)
}

func TestChargeExactlyOnce(t *testing.T) {
	f := newFixture(t, "")
	req := ChargeRequest{OrderID: "ord_1", UserID: "usr_alice", AmountCents: 4200, Currency: "EUR"}
	first := f.post(t, "k1", req)
	if first.Status != http.StatusCreated {
		t.Fatalf("charge: %d %s", first.Status, first.Body)
	}
	f.clock.Advance(time.Hour)
	again := f.post(t, "k1", req)
	if again.Status != first.Status || string(again.Body) != string(first.Body) || again.Header.Get(ReplayedHeader) != "true" {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	if r := f.post(t, "k1", ChargeRequest{OrderID: "ord_1", UserID: "usr_alice", AmountCents: 4201, Currency: "EUR"}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s", r.Status, r.Body)
	}
	// Concurrent requests with one key: one charge.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.c.Charge(context.Background(), "k2", ChargeRequest{OrderID: "ord_2", AmountCents: 100, Currency: "EUR"})
			if err != nil && !errors.Is(err, ErrInFlight) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	sum, err := f.c.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.TotalCharges != 2 || sum.TotalAmount != 4300 || len(sum.DuplicateOrders) != 0 {
		t.Fatalf("summary: %+v", sum)
	}
	ps, err := f.c.ForOrder(context.Background(), "ord_1")
	if err != nil || len(ps) != 1 || ps[0].Status != StatusSucceeded {
		t.Fatalf("for order: %+v %v", ps, err)
	}
}

func TestDeclineIsStoredToo(t *testing.T) {
	f := newFixture(t, "")
	req := ChargeRequest{OrderID: "ord_big", AmountCents: 1_000_001, Currency: "EUR"}
	_, err := f.c.Charge(context.Background(), "big", req)
	if !errors.Is(err, ErrDeclined) {
		t.Fatalf("big charge: %v", err)
	}
	r := f.post(t, "big", req)
	if r.Status != http.StatusPaymentRequired || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("replayed decline: %d %s", r.Status, r.Body)
	}
	if _, err := f.c.Charge(context.Background(), "ok", ChargeRequest{OrderID: "ord_ok", AmountCents: 1_000_000, Currency: "EUR"}); err != nil {
		t.Fatalf("limit amount: %v", err)
	}
}

func TestChargeValidation(t *testing.T) {
	f := newFixture(t, "")
	good := ChargeRequest{OrderID: "o", AmountCents: 1, Currency: "EUR"}
	for _, tc := range []struct {
		name string
		key  string
		body any
		hdr  []string
		want int
	}{
		{"no key", "", good, nil, http.StatusBadRequest},
		{"key with space", "a b", good, nil, http.StatusBadRequest},
		{"key too long", strings.Repeat("k", 256), good, nil, http.StatusBadRequest},
		{"zero amount", "v1", ChargeRequest{OrderID: "o", AmountCents: 0, Currency: "EUR"}, nil, http.StatusBadRequest},
		{"negative amount", "v2", ChargeRequest{OrderID: "o", AmountCents: -5, Currency: "EUR"}, nil, http.StatusBadRequest},
		{"bad currency", "v3", ChargeRequest{OrderID: "o", AmountCents: 5, Currency: "eur"}, nil, http.StatusBadRequest},
		{"no order", "v4", ChargeRequest{AmountCents: 5, Currency: "EUR"}, nil, http.StatusBadRequest},
		{"unknown field", "v5", `{"order_id":"o","amount":1,"currency":"EUR","card":"4111"}`, nil, http.StatusBadRequest},
		{"float amount", "v6", `{"order_id":"o","amount":1.5,"currency":"EUR"}`, nil, http.StatusBadRequest},
		{"gateway key", "v7", good, []string{auth.ServiceKeyHeader, "", auth.GatewayKeyHeader, kittest.Keys.Gateway}, http.StatusForbidden},
		{"no caller key", "v8", good, []string{auth.ServiceKeyHeader, ""}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append(append([]string{}, svcKey...), kit.IdempotencyKeyHeader, tc.key)
			r := kittest.Call(t, http.MethodPost, f.url+RoutePayments, tc.body, append(h, tc.hdr...)...)
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
		})
	}
}

func TestInFlightAndTakeOver(t *testing.T) {
	var logs syncbuf.Buffer
	clock := kittest.NewClock()
	svc, err := New(Config{Base: kit.Base{Keys: kittest.Keys, Now: clock.Now, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, Tokens: kit.Tokens{Validator: kittest.Validator}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	f := &fixture{svc: svc, url: kittest.Serve(t, svc).URL, clock: clock}
	f.c = NewClient(f.url, nil, kittest.Keys.Service)
	req := ChargeRequest{OrderID: "ord_c", AmountCents: 700, Currency: "EUR"}
	// A process died between Begin and Complete: its row is processing.
	f.begun(t, "crash", "pay_crashed", req)
	// While its claim lasts (in the store: any process sharing it sees
	// the same), another request with the key gets 409, whatever its body.
	for _, body := range []ChargeRequest{req, {OrderID: "ord_other", AmountCents: 1, Currency: "EUR"}} {
		if r := f.post(t, "crash", body); r.Status != http.StatusConflict || r.Header.Get("Retry-After") == "" {
			t.Fatalf("in flight: %d %s", r.Status, r.Body)
		}
	}
	f.clock.Advance(DefaultLeaseTTL)

	// Its claim expired, the row is abandoned: many retries at once take it over
	// exactly once; the others get 409 or the stored answer.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 20 {
		wg.Go(func() {
			r := kittest.Call(t, http.MethodPost, f.url+RoutePayments, req, append(svcKey, kit.IdempotencyKeyHeader, "crash")...)
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
			if r.Status == http.StatusCreated && !strings.Contains(string(r.Body), "pay_crashed") {
				t.Errorf("take over answered another payment: %s", r.Body)
			}
		})
	}
	wg.Wait()
	if codes[http.StatusCreated] == 0 || codes[http.StatusCreated]+codes[http.StatusConflict] != 20 {
		t.Fatalf("answers %v", codes)
	}
	if n := strings.Count(logs.String(), `"payment.charged"`); n != 1 {
		t.Fatalf("the abandoned charge was processed %d times", n)
	}
	sum, _ := f.c.Summary(context.Background())
	if sum.TotalCharges != 1 || sum.Processing != 0 {
		t.Fatalf("summary: %+v", sum)
	}
}

// begun stores a charge of req under key as a process that died between
// Begin and Complete leaves it: processing, claimed for DefaultLeaseTTL.
func (f *fixture) begun(t testing.TB, key, id string, req ChargeRequest) {
	t.Helper()
	now := f.clock.Now()
	if _, created, err := f.svc.store.Begin(context.Background(), Record{
		Payment: Payment{ID: id, OrderID: req.OrderID, AmountCents: req.AmountCents, Currency: req.Currency, CreatedAt: now, UpdatedAt: now},
		Key:     key, Fingerprint: kit.Fingerprint(req),
	}, now.Add(DefaultLeaseTTL)); err != nil || !created {
		t.Fatalf("begin: created %v, %v", created, err)
	}
}

func TestRestartTakesOverWhenTheClaimExpires(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir)
	req := ChargeRequest{OrderID: "ord_k", AmountCents: 900, Currency: "EUR"}
	// The process dies between Begin and Complete.
	f.begun(t, "killed", "pay_killed", req)
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	// It restarts a second later: the dead request's claim still holds
	// (another process sharing the store could be working on it), so the
	// order's retry gets 409; once the claim expires, it takes over.
	clock := kittest.NewClock()
	clock.Advance(time.Second)
	s, err := New(Config{Base: kit.Base{Keys: kittest.Keys, Now: clock.Now}, Tokens: kit.Tokens{Validator: kittest.Validator}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := NewClient(kittest.Serve(t, s).URL, nil, kittest.Keys.Service)
	if _, err := c.Charge(context.Background(), "killed", req); !errors.Is(err, ErrInFlight) {
		t.Fatalf("under the dead claim: %v, want in flight", err)
	}
	clock.Advance(DefaultLeaseTTL)
	p, err := c.Charge(context.Background(), "killed", req)
	if err != nil || p.ID != "pay_killed" || p.Status != StatusSucceeded {
		t.Fatalf("after restart: %+v %v", p, err)
	}
	if sum, _ := c.Summary(context.Background()); sum.TotalCharges != 1 || sum.Processing != 0 {
		t.Fatalf("summary: %+v", sum)
	}
}

func TestGetPaymentOwnerOnly(t *testing.T) {
	f := newFixture(t, "")
	p, err := f.c.Charge(context.Background(), "g", ChargeRequest{OrderID: "ord_g", UserID: "usr_alice", AmountCents: 10, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	gw := []string{auth.GatewayKeyHeader, kittest.Keys.Gateway}
	for _, tc := range []struct {
		token string
		want  int
	}{
		{"alice-token", http.StatusOK}, {"admin-token", http.StatusOK}, {"bob-token", http.StatusNotFound}, {"junk", http.StatusUnauthorized},
	} {
		r := kittest.Call(t, http.MethodGet, f.url+"/payments/"+p.ID, nil, append(gw, "Authorization", "Bearer "+tc.token)...)
		if r.Status != tc.want {
			t.Fatalf("%s: %d, want %d", tc.token, r.Status, tc.want)
		}
	}
}

func TestRestartKeepsCharges(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir)
	req := ChargeRequest{OrderID: "ord_r", AmountCents: 10, Currency: "EUR"}
	first := f.post(t, "r", req)
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	g := newFixture(t, dir)
	again := g.post(t, "r", req)
	if again.Status != http.StatusCreated || string(again.Body) != string(first.Body) {
		t.Fatalf("after restart: %d %s", again.Status, again.Body)
	}
	if sum, _ := g.c.Summary(context.Background()); sum.TotalCharges != 1 {
		t.Fatalf("summary: %+v", sum)
	}
}
