package product

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit/kittest"
)

func newTestService(t testing.TB, cfg Config) (*Service, string) {
	t.Helper()
	cfg.Keys = kittest.Keys
	if cfg.Validator == nil {
		cfg.Validator = kittest.Validator
	}
	if cfg.Now == nil {
		cfg.Now = kittest.NewClock().Now
	}
	cfg.PublicURL = "https://shop.example"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, kittest.Serve(t, s).URL
}

var (
	gw  = []string{auth.GatewayKeyHeader, kittest.Keys.Gateway}
	svc = []string{auth.ServiceKeyHeader, kittest.Keys.Service}
)

func TestCatalogue(t *testing.T) {
	_, url := newTestService(t, Config{})
	r := kittest.Call(t, http.MethodGet, url+"/products?limit=3&offset=3", nil, gw...)
	if r.Status != http.StatusOK {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	var page Page
	r.JSON(t, &page)
	if len(page.Items) != 3 || page.Total != len(Seed) || page.Items[0].ID != "prd_004" || page.Items[0].Currency != "EUR" {
		t.Fatalf("page: %+v", page)
	}
	if got, want := r.Header.Get("Link"), `<https://shop.example/api/v1/products?limit=3&offset=6>; rel="next"`; got != want {
		t.Fatalf("Link %q, want %q", got, want)
	}
	r = kittest.Call(t, http.MethodGet, url+"/products?limit=3&offset=6", nil, gw...)
	if r.Status != http.StatusOK || r.Header.Get("Link") != "" {
		t.Fatalf("last page: %d Link=%q", r.Status, r.Header.Get("Link"))
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=abc", "offset=-1", "limit=1&limit=2", "offset=99999999999", "limit=%zz"} {
		t.Run(q, func(t *testing.T) {
			if r := kittest.Call(t, http.MethodGet, url+"/products?"+q, nil, gw...); r.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		})
	}
	if r := kittest.Call(t, http.MethodGet, url+"/products/prd_002", nil, gw...); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "Circuit Breaker Mug") {
		t.Fatalf("get: %d %s", r.Status, r.Body)
	}
	for _, id := range []string{"prd_999", "x%20y", strings.Repeat("a", 65)} {
		if r := kittest.Call(t, http.MethodGet, url+"/products/"+id, nil, gw...); r.Status != http.StatusNotFound {
			t.Fatalf("get %q: %d", id, r.Status)
		}
	}
	if r := kittest.Call(t, http.MethodGet, url+"/products", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("without gateway key: %d", r.Status)
	}
	if r := kittest.Call(t, http.MethodGet, url+"/products", nil, auth.GatewayKeyHeader, kittest.Keys.Gateway[:5]); r.Status != http.StatusForbidden {
		t.Fatalf("with key prefix: %d", r.Status)
	}
}

func TestCreateProduct(t *testing.T) {
	_, url := newTestService(t, Config{})
	good := CreateRequest{Name: "SLO Socks", PriceCents: 999, Currency: "EUR", Stock: 5}
	for _, tc := range []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"no token", "", good, http.StatusUnauthorized},
		{"bad token", "forged", good, http.StatusUnauthorized},
		{"customer", "alice-token", good, http.StatusForbidden},
		{"validator down", "down", good, http.StatusServiceUnavailable},
		{"zero price", "admin-token", CreateRequest{Name: "x", PriceCents: 0}, http.StatusUnprocessableEntity},
		{"negative stock", "admin-token", CreateRequest{Name: "x", PriceCents: 1, Stock: -1}, http.StatusUnprocessableEntity},
		{"other currency", "admin-token", CreateRequest{Name: "x", PriceCents: 1, Currency: "USD"}, http.StatusUnprocessableEntity},
		{"unknown field", "admin-token", `{"name":"x","price_cents":1,"id":"p1"}`, http.StatusBadRequest},
		{"admin", "admin-token", good, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append([]string{}, gw...)
			if tc.token != "" {
				h = append(h, "Authorization", "Bearer "+tc.token)
			}
			r := kittest.Call(t, http.MethodPost, url+"/products", tc.body, h...)
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
			if tc.want == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			if r.Status == http.StatusCreated {
				var p Product
				r.JSON(t, &p)
				if r.Header.Get("Location") != "https://shop.example/api/v1/products/"+p.ID || p.Stock != 5 {
					t.Fatalf("created: %+v at %q", p, r.Header.Get("Location"))
				}
				if g := kittest.Call(t, http.MethodGet, url+"/products/"+p.ID, nil, gw...); g.Status != http.StatusOK {
					t.Fatalf("read back: %d", g.Status)
				}
			}
		})
	}
}

func stock(t testing.TB, c *Client) StockSummary {
	t.Helper()
	s, err := c.Stock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Consistent {
		t.Fatalf("stock inconsistent: %+v", s)
	}
	return s
}

func level(s StockSummary, id string) StockLevel {
	for _, l := range s.Products {
		if l.ProductID == id {
			return l
		}
	}
	return StockLevel{}
}

func TestReservations(t *testing.T) {
	_, url := newTestService(t, Config{})
	c := NewClient(url, nil, kittest.Keys.Service)
	ctx := context.Background()
	items := []Item{{ProductID: "prd_001", Quantity: 2}, {ProductID: "prd_008", Quantity: 3}}

	r := kittest.Call(t, http.MethodPost, url+RouteReservations, ReserveRequest{ID: "res1", Items: items}, svc...)
	if r.Status != http.StatusCreated {
		t.Fatalf("reserve: %d %s", r.Status, r.Body)
	}
	r2 := kittest.Call(t, http.MethodPost, url+RouteReservations, ReserveRequest{ID: "res1", Items: items}, svc...)
	if r2.Status != http.StatusOK || string(r2.Body) != string(r.Body) {
		t.Fatalf("replay: %d %s", r2.Status, r2.Body)
	}
	s := stock(t, c)
	if l := level(s, "prd_008"); l.Available != 7 || l.Reserved != 3 {
		t.Fatalf("after reserve: %+v", l)
	}
	res, _ := c.Reserve(ctx, "res1", items)
	if res.Items[1].UnitPriceCents != 3499 || res.State != StateReserved {
		t.Fatalf("reservation: %+v", res)
	}

	if _, err := c.Reserve(ctx, "res1", items[:1]); !errors.Is(err, ErrUnknownProduct) || !strings.Contains(err.Error(), "different items") {
		t.Fatalf("reused id: %v", err)
	}
	// All or nothing: the first line fits, the second does not.
	_, err := c.Reserve(ctx, "res2", []Item{{ProductID: "prd_001", Quantity: 1}, {ProductID: "prd_008", Quantity: 8}})
	if !errors.Is(err, ErrInsufficientStock) {
		t.Fatalf("insufficient: %v", err)
	}
	if _, err := c.Reserve(ctx, "res3", []Item{{ProductID: "prd_nope", Quantity: 1}}); !errors.Is(err, ErrUnknownProduct) {
		t.Fatalf("unknown: %v", err)
	}
	if l := level(stock(t, c), "prd_001"); l.Available != 98 || l.Reserved != 2 {
		t.Fatalf("partial reservation leaked: %+v", l)
	}

	for _, tc := range []struct {
		name string
		body any
	}{
		{"empty items", ReserveRequest{ID: "r", Items: nil}},
		{"zero quantity", ReserveRequest{ID: "r", Items: []Item{{"prd_001", 0}}}},
		{"negative quantity", ReserveRequest{ID: "r", Items: []Item{{"prd_001", -2}}}},
		{"duplicate lines", ReserveRequest{ID: "r", Items: []Item{{"prd_001", 1}, {"prd_001", 1}}}},
		{"bad id", ReserveRequest{ID: "a/b", Items: []Item{{"prd_001", 1}}}},
		{"string quantity", `{"id":"r","items":[{"product_id":"prd_001","quantity":"1"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := kittest.Call(t, http.MethodPost, url+RouteReservations, tc.body, svc...); r.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		})
	}

	if _, err := c.Release(ctx, "res1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Release(ctx, "res1"); err != nil {
		t.Fatalf("second release: %v", err)
	}
	if l := level(stock(t, c), "prd_008"); l.Available != 10 || l.Reserved != 0 {
		t.Fatalf("after release: %+v", l)
	}
	if _, err := c.Commit(ctx, "res1"); !errors.Is(err, ErrState) {
		t.Fatalf("commit after release: %v", err)
	}
	if _, err := c.Release(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("release unknown: %v", err)
	}

	if _, err := c.Reserve(ctx, "res4", []Item{{ProductID: "prd_008", Quantity: 4}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Commit(ctx, "res4"); err != nil {
			t.Fatal(err)
		}
	}
	if l := level(stock(t, c), "prd_008"); l.Available != 6 || l.Reserved != 0 || l.Sold != 4 {
		t.Fatalf("after commit: %+v", l)
	}
	if _, err := c.Release(ctx, "res4"); !errors.Is(err, ErrState) {
		t.Fatalf("release after commit: %v", err)
	}

	if r := kittest.Call(t, http.MethodGet, url+RouteStock, nil, gw...); r.Status != http.StatusForbidden {
		t.Fatalf("internal with gateway key: %d", r.Status)
	}
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	_, url := newTestService(t, Config{})
	c := NewClient(url, nil, kittest.Keys.Service)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Reserve(context.Background(), fmt.Sprintf("c%d", i), []Item{{ProductID: "prd_008", Quantity: 1}})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, ErrInsufficientStock) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 10 {
		t.Fatalf("%d reservations succeeded, want 10", ok)
	}
	if l := level(stock(t, c), "prd_008"); l.Available != 0 || l.Reserved != 10 {
		t.Fatalf("stock: %+v", l)
	}
}

func TestRestartKeepsStock(t *testing.T) {
	dir := t.TempDir()
	s, url := newTestService(t, Config{DataDir: dir})
	c := NewClient(url, nil, kittest.Keys.Service)
	if _, err := c.Reserve(context.Background(), "keep", []Item{{ProductID: "prd_002", Quantity: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, url = newTestService(t, Config{DataDir: dir})
	c = NewClient(url, nil, kittest.Keys.Service)
	st := stock(t, c)
	if l := level(st, "prd_002"); l.Reserved != 5 || l.Available != 45 || len(st.Products) != len(Seed) {
		t.Fatalf("after restart: %+v (%d products)", l, len(st.Products))
	}
}
