package payment

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/syncbuf"
)

// TestChargesEndpoint: GET /internal/charges pages through every payment
// by id, for the service key only.
func TestChargesEndpoint(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	for i, amount := range []int64{100, 200, 5_000_000} {
		_, _ = f.c.Charge(ctx, "ch-"+string(rune('a'+i)), ChargeRequest{OrderID: "ord_" + string(rune('a'+i)), AmountCents: amount, Currency: "EUR"})
	}
	all, err := f.c.Charges(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("charges: %+v %v", all, err)
	}
	declined := 0
	for i, p := range all {
		if i > 0 && all[i-1].ID >= p.ID {
			t.Fatalf("not by id: %+v", all)
		}
		if p.Status == StatusDeclined {
			declined++
		}
	}
	if declined != 1 {
		t.Fatalf("want the decline listed too: %+v", all)
	}
	r := kittest.Call(t, http.MethodGet, f.url+RouteCharges+"?limit=2", nil, svcKey...)
	var page ChargesPage
	r.JSON(t, &page)
	if len(page.Items) != 2 || page.Next != page.Items[1].ID {
		t.Fatalf("first page: %+v", page)
	}
	r = kittest.Call(t, http.MethodGet, f.url+RouteCharges+"?limit=2&after="+page.Next, nil, svcKey...)
	page = ChargesPage{}
	r.JSON(t, &page)
	if len(page.Items) != 1 || page.Next != "" || page.Items[0].ID != all[2].ID {
		t.Fatalf("last page: %+v", page)
	}
	kittest.WantRefused(t, f.url+RouteCharges, kittest.ServiceOnly(
		kittest.Refusal{Name: "limit over max", Query: "?limit=5001", Header: svcKey, Want: http.StatusBadRequest},
		kittest.Refusal{Name: "bad after", Query: "?after=a/b", Header: svcKey, Want: http.StatusBadRequest})...)
}

// TestProcessesShareOneStore: two payment processes on one store charge a
// key once between them. The claim on a charge in flight is in the store,
// so neither takes over the other's live charge; one left by a process
// that died is taken over once its claim has expired.
func TestProcessesShareOneStore(t *testing.T) {
	dir := t.TempDir()
	clock := kittest.NewClock()
	var logs syncbuf.Buffer
	var urls []string
	var svcs []*Service
	for range 2 {
		s, err := New(Config{Base: kit.Base{Keys: kittest.Keys, Now: clock.Now, Logger: slog.New(slog.NewJSONHandler(&logs, nil))},
			Tokens: kit.Tokens{Validator: kittest.Validator}, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		svcs = append(svcs, s)
		urls = append(urls, kittest.Serve(t, s).URL)
	}
	req := ChargeRequest{OrderID: "ord_shared", AmountCents: 300, Currency: "EUR"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 20 {
		wg.Go(func() {
			r := kittest.Call(t, http.MethodPost, urls[i%2]+RoutePayments, req, append(svcKey, kit.IdempotencyKeyHeader, "shared")...)
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusCreated] == 0 || codes[http.StatusCreated]+codes[http.StatusConflict] != 20 {
		t.Fatalf("answers %v", codes)
	}
	if n := strings.Count(logs.String(), `"payment.charged"`); n != 1 {
		t.Fatalf("charged %d times by two processes", n)
	}

	// Process 0 dies between Begin and Complete.
	now := clock.Now()
	dead := ChargeRequest{OrderID: "ord_dead", AmountCents: 400, Currency: "EUR"}
	if _, created, err := svcs[0].store.Begin(context.Background(), Record{
		Payment: Payment{ID: "pay_dead", OrderID: dead.OrderID, AmountCents: 400, Currency: "EUR", CreatedAt: now, UpdatedAt: now},
		Key:     "dead", Fingerprint: kit.Fingerprint(dead),
	}, now.Add(DefaultLeaseTTL)); err != nil || !created {
		t.Fatal(err)
	}
	c := NewClient(urls[1], nil, kittest.Keys.Service)
	if _, err := c.Charge(context.Background(), "dead", dead); !errors.Is(err, ErrInFlight) {
		t.Fatalf("process 1 took over a live claim: %v", err)
	}
	clock.Advance(DefaultLeaseTTL)
	if p, err := c.Charge(context.Background(), "dead", dead); err != nil || p.ID != "pay_dead" || p.Status != StatusSucceeded {
		t.Fatalf("take over after the claim expired: %+v %v", p, err)
	}
}
