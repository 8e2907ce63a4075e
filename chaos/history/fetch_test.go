package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// fakeStores serves the contract's read endpoints over n orders and
// charges, paged by id.
func fakeStores(t *testing.T, n int, stockAsList bool) (*httptest.Server, *int) {
	t.Helper()
	pages := 0
	ids := func(prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s_%03d", prefix, i+1)
		}
		return out
	}
	paged := func(w http.ResponseWriter, r *http.Request, all []string, item func(id string) any) {
		pages++
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		after := r.URL.Query().Get("after")
		var items []any
		next := ""
		for _, id := range all {
			if id <= after {
				continue
			}
			if len(items) == limit {
				next = fmt.Sprint(items[len(items)-1].(map[string]any)["id"])
				break
			}
			items = append(items, item(id))
		}
		json.NewEncoder(w).Encode(map[string]any{"items": items, "next": next})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /internal/orders", func(w http.ResponseWriter, r *http.Request) {
		paged(w, r, ids("ord"), func(id string) any {
			return map[string]any{"id": id, "status": "confirmed", "idempotency_key": "k" + id, "version": 1,
				"events": []any{map[string]any{"seq": 1, "from": "", "to": "confirmed", "version": 1}}}
		})
	})
	mux.HandleFunc("GET /internal/charges", func(w http.ResponseWriter, r *http.Request) {
		paged(w, r, ids("pay"), func(id string) any { return map[string]any{"id": id, "amount": 5, "status": "succeeded"} })
	})
	mux.HandleFunc("GET /internal/stock", func(w http.ResponseWriter, r *http.Request) {
		levels := []any{map[string]any{"product_id": "p1", "initial": 10, "available": 4, "reserved": 1, "sold": 5}}
		if stockAsList {
			json.NewEncoder(w).Encode(levels)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"products": levels, "initial": 10})
	})
	mux.HandleFunc("GET /internal/reservations", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("state") != "reserved" {
			http.Error(w, "state", http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"items":[{"id":"ord_001-1","state":"reserved","items":[{"product_id":"p1","quantity":1}],"expires_at":"2026-12-01T20:00:00Z"}]}`))
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Service-Key") != "sk" {
			http.Error(w, "internal endpoint", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &pages
}

func TestFetch(t *testing.T) {
	tests := []struct {
		name        string
		n, pageSize int
		stockAsList bool
		wantPages   int
	}{
		{"one page", 3, 0, false, 2},
		{"paged", 7, 3, true, 6}, // 3+3+1 per endpoint
		{"empty", 0, 2, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, pages := fakeStores(t, tt.n, tt.stockAsList)
			snap, err := Fetch(context.Background(), Source{OrderURL: srv.URL, PaymentURL: srv.URL, ProductURL: srv.URL, ServiceKey: "sk", PageSize: tt.pageSize})
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Orders) != tt.n || len(snap.Charges) != tt.n || *pages != tt.wantPages {
				t.Fatalf("%d orders, %d charges in %d pages; want %d, %d, %d", len(snap.Orders), len(snap.Charges), *pages, tt.n, tt.n, tt.wantPages)
			}
			if tt.n > 0 && (snap.Orders[tt.n-1].ID != fmt.Sprintf("ord_%03d", tt.n) || len(snap.Orders[0].Events) != 1 || snap.Orders[0].IdempotencyKey != "kord_001") {
				t.Errorf("orders decoded wrong: %+v", snap.Orders[0])
			}
			if len(snap.Stock) != 1 || snap.Stock[0].Sold != 5 || len(snap.Reservations) != 1 || snap.Reservations[0].Order() != "ord_001" || snap.Reservations[0].ExpiresAt.IsZero() {
				t.Errorf("stock %+v, reservations %+v", snap.Stock, snap.Reservations)
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	srv, _ := fakeStores(t, 1, false)
	_, err := Fetch(context.Background(), Source{OrderURL: srv.URL, PaymentURL: srv.URL, ProductURL: srv.URL, ServiceKey: "wrong"})
	if !errors.Is(err, ErrFetch) {
		t.Errorf("wrong key: err %v, want ErrFetch", err)
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	_, err = Fetch(context.Background(), Source{OrderURL: missing.URL, PaymentURL: srv.URL, ProductURL: srv.URL, ServiceKey: "sk"})
	var se *StatusError
	if !errors.Is(err, ErrFetch) || !errors.As(err, &se) || se.Status != http.StatusNotFound || se.Path != "/internal/orders" {
		t.Errorf("no endpoint: err %v, want ErrFetch with a 404 StatusError", err)
	}
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"items":[{"id":"ord_1"}],"next":"ord_1"}`))
	}))
	defer stuck.Close()
	_, err = Fetch(context.Background(), Source{OrderURL: stuck.URL, PaymentURL: srv.URL, ProductURL: srv.URL, ServiceKey: "sk"})
	if !errors.Is(err, ErrFetch) {
		t.Errorf("next that never advances: err %v, want ErrFetch", err)
	}
}
