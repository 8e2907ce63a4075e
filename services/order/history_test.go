package order

import (
	"context"
	"net/http"
	"testing"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/services/product"
)

// TestHistoryEndpoint: GET /internal/orders serves every order with its
// key, version and append-only events, paged by id, for the service key
// only.
func TestHistoryEndpoint(t *testing.T) {
	f := newFixture(t, "")
	ok := f.order(t, "alice-token", "h-ok", items(product.Item{ProductID: "prd_003", Quantity: 1}))
	dec := f.order(t, "bob-token", "h-dec", items(product.Item{ProductID: "prd_007", Quantity: 1}))
	if ok.Status != http.StatusCreated || dec.Status != http.StatusPaymentRequired {
		t.Fatalf("orders: %d %d", ok.Status, dec.Status)
	}
	c := NewClient(f.url, nil, kittest.Keys.Service)
	hs, err := c.History(context.Background())
	if err != nil || len(hs) != 2 {
		t.Fatalf("history: %+v %v", hs, err)
	}
	byKey := map[string]History{}
	for _, h := range hs {
		byKey[h.IdempotencyKey] = h
	}
	for key, want := range map[string][]string{
		// created, priced, paid, confirmed
		"h-ok": {"->pending", "pending->pending", "pending->pending", "pending->confirmed"},
		// created, priced, failed
		"h-dec": {"->pending", "pending->pending", "pending->failed"},
	} {
		h := byKey[key]
		if len(h.Events) != len(want) || h.Version != len(want) {
			t.Fatalf("%s: version %d, events %+v; want %v", key, h.Version, h.Events, want)
		}
		for i, e := range h.Events {
			if got := e.From + "->" + e.To; got != want[i] || e.Version != i+1 || e.Actor != ActorRequest || e.Attempt != 1 || e.TraceID == "" {
				t.Fatalf("%s event %d: %+v, want %s at version %d", key, i, e, want[i], i+1)
			}
		}
		if h.Status != h.Events[len(h.Events)-1].To {
			t.Fatalf("%s: status %s but last event %+v", key, h.Status, h.Events[len(h.Events)-1])
		}
	}
	if h := byKey["h-ok"]; h.TotalCents != 799 || h.Currency != "EUR" || h.PaymentID == "" {
		t.Fatalf("confirmed order: %+v", h)
	}

	r := kittest.Call(t, http.MethodGet, f.url+RouteHistory+"?limit=1", nil, auth.ServiceKeyHeader, kittest.Keys.Service)
	var page HistoryPage
	r.JSON(t, &page)
	if len(page.Items) != 1 || page.Next != page.Items[0].ID || page.Next != hs[0].ID {
		t.Fatalf("first page: %+v", page)
	}
	sk := []string{auth.ServiceKeyHeader, kittest.Keys.Service}
	kittest.WantRefused(t, f.url+RouteHistory, kittest.ServiceOnly(
		kittest.Refusal{Name: "limit over max", Query: "?limit=5001", Header: sk, Want: http.StatusBadRequest},
		kittest.Refusal{Name: "after twice", Query: "?after=a&after=b", Header: sk, Want: http.StatusBadRequest})...)
}
