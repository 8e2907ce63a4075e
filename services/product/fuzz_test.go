package product_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/services/product"
)

// call serves one request to h as the admin, through the gateway.
func call(h http.Handler, method, path string, body []byte) *httptest.ResponseRecorder {
	return kittest.Record(h, method, path, body, auth.GatewayKeyHeader, kittest.Keys.Gateway, "Authorization", "Bearer "+kittest.AdminToken)
}

// validProduct is the contract of POST /products, written out: strict JSON,
// a 1–200 character name (after trimming), a description of at most 2000
// characters, a price of 1–100000000 cents in EUR, and 0–1000000 in stock.
func validProduct(body []byte) (product.CreateRequest, bool) {
	var req product.CreateRequest
	if !kittest.StrictJSON(body, &req) {
		return req, false
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Currency == "" {
		req.Currency = "EUR"
	}
	n := utf8.RuneCountInString(req.Name)
	return req, n >= 1 && n <= 200 && utf8.RuneCountInString(req.Description) <= 2000 &&
		req.PriceCents >= 1 && req.PriceCents <= 100_000_000 && req.Currency == "EUR" &&
		req.Stock >= 0 && req.Stock <= 1_000_000
}

// FuzzCreateProduct: an admin's POST /products with any body is 201 or a
// 4xx; 201 exactly for a valid body, and the product it creates is the one
// asked for and reads back the same.
func FuzzCreateProduct(f *testing.F) {
	for _, s := range []string{
		`{"name":"Mug","description":"hot","price_cents":1250,"currency":"EUR","stock":5}`,
		`{"name":"  Mug  ","price_cents":1,"stock":0}`,
		`{"name":"","price_cents":1}`,
		`{"name":"Mug","price_cents":0}`,
		`{"name":"Mug","price_cents":100000001}`,
		`{"name":"Mug","price_cents":1,"currency":"USD"}`,
		`{"name":"Mug","price_cents":1,"stock":-1}`,
		`{"name":"Mug","price_cents":1.5}`,
		`{"name":"Mug","price_cents":1,"id":"prd_001"}`,
		`{"name":"Mug","price_cents":1}{}`,
		`null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	svc := kittest.Build(f, product.New, product.Config{Base: kit.Base{Keys: kittest.Keys, Now: kittest.NewClock().Now}, Tokens: kit.Tokens{Validator: kittest.Validator}})
	f.Fuzz(func(t *testing.T, body []byte) {
		w := call(svc, http.MethodPost, product.RouteProducts, body)
		if w.Code != http.StatusCreated && (w.Code < 400 || w.Code > 499) {
			t.Fatalf("POST %q: status %d %s", body, w.Code, w.Body)
		}
		want, valid := validProduct(body)
		if (w.Code == http.StatusCreated) != valid {
			t.Fatalf("POST %q: status %d, valid by contract: %v; %s", body, w.Code, valid, w.Body)
		}
		if !valid {
			return
		}
		var got product.Product
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("201 body %s: %v", w.Body, err)
		}
		if got.Name != want.Name || got.Description != want.Description || got.PriceCents != want.PriceCents ||
			got.Currency != want.Currency || got.Stock != want.Stock || got.ID == "" {
			t.Fatalf("created %+v, asked for %+v", got, want)
		}
		if loc := w.Header().Get("Location"); !strings.HasSuffix(loc, "/"+got.ID) {
			t.Fatalf("Location %q for %s", loc, got.ID)
		}
		r := call(svc, http.MethodGet, "/products/"+got.ID, nil)
		if r.Code != http.StatusOK || !bytes.Equal(r.Body.Bytes(), w.Body.Bytes()) {
			t.Fatalf("read back %d %s, created %s", r.Code, r.Body, w.Body)
		}
	})
}
