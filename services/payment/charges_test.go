package payment

import (
	"context"
	"net/http"
	"testing"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit/kittest"
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
	for _, tc := range []struct {
		name, query string
		hdr         []string
		want        int
	}{
		{"gateway key", "", []string{auth.GatewayKeyHeader, kittest.Keys.Gateway}, http.StatusForbidden},
		{"no key", "", nil, http.StatusUnauthorized},
		{"limit 0", "?limit=0", svcKey, http.StatusBadRequest},
		{"limit over max", "?limit=5001", svcKey, http.StatusBadRequest},
		{"bad after", "?after=a/b", svcKey, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := kittest.Call(t, http.MethodGet, f.url+RouteCharges+tc.query, nil, tc.hdr...); r.Status != tc.want {
				t.Fatalf("%d, want %d: %s", r.Status, tc.want, r.Body)
			}
		})
	}
}
