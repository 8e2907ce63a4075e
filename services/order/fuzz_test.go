package order_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/services/order"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
)

// inProcess serves outbound requests with h directly, without a network;
// while down is set it fails them as a crashed upstream would.
type inProcess struct {
	h    http.Handler
	down atomic.Bool
}

// errDown is a refused connection: the request never reached payment, so
// the order may fail at once (a lost answer would leave it pending).
var errDown = fmt.Errorf("upstream down for the test: %w", syscall.ECONNREFUSED)

func (t *inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.down.Load() {
		return nil, errDown
	}
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validOrder is the contract of POST /orders, written out: strict JSON with
// 1–20 lines, each a well-formed product id (no id twice) and a quantity of
// 1–10000.
func validOrder(body []byte) (order.CreateRequest, bool) {
	var req order.CreateRequest
	if !kittest.StrictJSON(body, &req) {
		return req, false
	}
	if len(req.Items) < 1 || len(req.Items) > order.DefaultMaxLines {
		return req, false
	}
	seen := map[string]bool{}
	for _, it := range req.Items {
		if !idRE.MatchString(it.ProductID) || seen[it.ProductID] || it.Quantity < 1 || it.Quantity > 10_000 {
			return req, false
		}
		seen[it.ProductID] = true
	}
	return req, true
}

// FuzzCreateOrder posts any body and Idempotency-Key as an authenticated
// customer, with product and payment served in process and payment down
// when payDown is set. The answer is never 5xx but 503 while payment is
// down; 201 only for a valid order, which it echoes; and afterwards no
// stock is left reserved and no order is charged twice.
func FuzzCreateOrder(f *testing.F) {
	for _, c := range []struct {
		key, body string
		down      bool
	}{
		{"k1", `{"items":[{"product_id":"prd_003","quantity":2},{"product_id":"prd_005","quantity":1}]}`, false},
		{"k1", `{"items":[{"product_id":"prd_003","quantity":2},{"product_id":"prd_005","quantity":1}]}`, false},
		{"k1", `{"items":[{"product_id":"prd_003","quantity":3}]}`, false},
		{"k2", `{"items":[{"product_id":"prd_001","quantity":1}]}`, true},
		{"k2", `{"items":[{"product_id":"prd_001","quantity":1}]}`, false},
		{"k3", `{"items":[{"product_id":"prd_007","quantity":200}]}`, false},
		{"k4", `{"items":[{"product_id":"prd_008","quantity":11}]}`, false},
		{"k5", `{"items":[{"product_id":"prd_nope","quantity":1}]}`, false},
		{"k6", `{"items":[{"product_id":"prd_001","quantity":1},{"product_id":"prd_001","quantity":1}]}`, false},
		{"k7", `{"items":[{"product_id":"prd_001","quantity":0}]}`, false},
		{"k8", `{"items":[]}`, false},
		{"k9", `{"items":[{"product_id":"prd 1","quantity":1}]}`, false},
		{"k10", `{"items":[{"product_id":"prd_001","quantity":1}],"total":1}`, false},
		{"", `{"items":[{"product_id":"prd_001","quantity":1}]}`, false},
		{"k\t11", `{"items":[{"product_id":"prd_001","quantity":1}]}`, false},
		{"k12", `null`, false},
		{"k13", `{`, true},
	} {
		f.Add(c.key, []byte(c.body), c.down)
	}
	clock := kittest.NewClock()
	base := kit.Base{Keys: kittest.Keys, Now: clock.Now}
	prod := kittest.Build(f, product.New, product.Config{Base: base, Tokens: kit.Tokens{Validator: kittest.Validator}})
	pay := kittest.Build(f, payment.New, payment.Config{Base: base, Tokens: kit.Tokens{Validator: kittest.Validator}})
	prodT, payT := &inProcess{h: prod}, &inProcess{h: pay}
	prodC, payC := &http.Client{Transport: prodT}, &http.Client{Transport: payT}
	svc := kittest.Build(f, order.New, order.Config{Base: base, Tokens: kit.Tokens{Validator: kittest.Validator},
		ProductURL: "http://product.test", ProductClient: prodC, PaymentURL: "http://payment.test", PaymentClient: payC})
	products := product.NewClient("http://product.test", prodC, kittest.Keys.Service)
	payments := payment.NewClient("http://payment.test", payC, kittest.Keys.Service)

	f.Fuzz(func(t *testing.T, key string, body []byte, payDown bool) {
		payT.down.Store(payDown)
		w := kittest.Record(svc, http.MethodPost, order.RouteOrders, body, auth.GatewayKeyHeader, kittest.Keys.Gateway,
			"Authorization", "Bearer "+kittest.AliceToken, kit.IdempotencyKeyHeader, key)
		payT.down.Store(false)

		switch {
		case w.Code == http.StatusServiceUnavailable && !payDown:
			t.Fatalf("key %q body %q: 503 with every upstream up: %s", key, body, w.Body)
		case w.Code >= 500 && w.Code != http.StatusServiceUnavailable:
			t.Fatalf("key %q body %q: status %d %s", key, body, w.Code, w.Body)
		}
		req, valid := validOrder(body)
		valid = valid && kit.ValidIdempotencyKey(key)
		if !valid && !kittest.Unreadable(w.Code) {
			t.Fatalf("key %q body %q, invalid: status %d %s", key, body, w.Code, w.Body)
		}
		if w.Code == http.StatusCreated {
			var o order.Order
			if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil {
				t.Fatalf("201 body %s: %v", w.Body, err)
			}
			if o.Status != order.StatusConfirmed || o.UserID != kittest.AliceUserID || o.PaymentID == "" || len(o.Items) != len(req.Items) {
				t.Fatalf("created %+v for %+v", o, req)
			}
			for i, l := range o.Items {
				if l.ProductID != req.Items[i].ProductID || l.Quantity != req.Items[i].Quantity {
					t.Fatalf("line %d: %+v, asked for %+v", i, l, req.Items[i])
				}
			}
		}

		// Whatever happened, the order ran to an end: nothing is still
		// reserved, stock adds up, and no order was charged twice.
		ctx := context.Background()
		stock, err := products.Stock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !stock.Consistent {
			t.Fatalf("stock inconsistent after %q: %+v", body, stock)
		}
		for _, l := range stock.Products {
			if l.Reserved != 0 {
				t.Fatalf("after key %q body %q (status %d): %s still reserved: %+v", key, body, w.Code, l.ProductID, l)
			}
		}
		sum, err := payments.Summary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.DuplicateOrders) > 0 {
			t.Fatalf("charged twice: %+v", sum.DuplicateOrders)
		}
	})
}
