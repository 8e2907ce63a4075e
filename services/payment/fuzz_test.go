package payment_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/services/payment"
)

const declineAbove = 5000

var (
	idRE       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// validCharge is the contract of POST /payments, written out: strict JSON,
// an order id, an optional user id, 1–MaxAmount cents, an ISO currency.
func validCharge(body []byte) (payment.ChargeRequest, bool) {
	var req payment.ChargeRequest
	if !kittest.StrictJSON(body, &req) {
		return req, false
	}
	return req, idRE.MatchString(req.OrderID) && (req.UserID == "" || idRE.MatchString(req.UserID)) &&
		req.AmountCents >= 1 && req.AmountCents <= payment.MaxAmount && currencyRE.MatchString(req.Currency)
}

// FuzzCharge: POST /payments with the service key, any Idempotency-Key and
// any body is never 5xx; a charge (201) or decline (402) happens only for a
// valid key and body, by amount; a key used again replays its answer for
// the same body and is 422 for another.
func FuzzCharge(f *testing.F) {
	for _, c := range []struct{ key, body string }{
		{"k1", `{"order_id":"ord_1","user_id":"usr_alice","amount":4200,"currency":"EUR"}`},
		{"k1", `{"order_id":"ord_1","user_id":"usr_alice","amount":4201,"currency":"EUR"}`},
		{"k2", `{"order_id":"ord_2","amount":999999,"currency":"USD"}`},
		{"", `{"order_id":"ord_3","amount":1,"currency":"EUR"}`},
		{"k 3", `{"order_id":"ord_3","amount":1,"currency":"EUR"}`},
		{"k4", `{"order_id":"ord 4","amount":1,"currency":"EUR"}`},
		{"k5", `{"order_id":"ord_5","amount":0,"currency":"EUR"}`},
		{"k6", `{"order_id":"ord_6","amount":1,"currency":"eur"}`},
		{"k7", `{"order_id":"ord_7","amount":1,"currency":"EUR","status":"succeeded"}`},
		{"k8", `{"order_id":"ord_8","amount":1e3,"currency":"EUR"}`},
		{"k9", `null`},
		{"k10", `{`},
	} {
		f.Add(c.key, []byte(c.body))
	}
	svc := kittest.Build(f, payment.New, payment.Config{Base: kit.Base{Keys: kittest.Keys, Now: kittest.NewClock().Now}, DeclineAbove: declineAbove})
	type answer struct {
		req    payment.ChargeRequest
		status int
		body   string
	}
	done := map[string]answer{} // by Idempotency-Key, in this process
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		w := kittest.Record(svc, http.MethodPost, payment.RoutePayments, body, auth.ServiceKeyHeader, kittest.Keys.Service, kit.IdempotencyKeyHeader, key)
		if w.Code >= 500 {
			t.Fatalf("key %q body %q: status %d %s", key, body, w.Code, w.Body)
		}
		req, valid := validCharge(body)
		valid = valid && kit.ValidIdempotencyKey(key)
		if !valid {
			if !kittest.Unreadable(w.Code) {
				t.Fatalf("key %q body %q, invalid: status %d %s", key, body, w.Code, w.Body)
			}
			return
		}
		prev, again := done[key]
		switch {
		case again && prev.req != req:
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("key %q reused for %+v after %+v: %d %s", key, req, prev.req, w.Code, w.Body)
			}
			return
		case again:
			if w.Code != prev.status || w.Body.String() != prev.body || w.Header().Get(payment.ReplayedHeader) != "true" {
				t.Fatalf("replay of %q: %d %s, first %d %s", key, w.Code, w.Body, prev.status, prev.body)
			}
			return
		}
		want := http.StatusCreated
		if req.AmountCents > declineAbove {
			want = http.StatusPaymentRequired
		}
		if w.Code != want {
			t.Fatalf("charge %+v: status %d, want %d: %s", req, w.Code, want, w.Body)
		}
		done[key] = answer{req: req, status: w.Code, body: w.Body.String()}
		if w.Code != http.StatusCreated {
			return
		}
		var p payment.Payment
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.OrderID != req.OrderID || p.UserID != req.UserID || p.AmountCents != req.AmountCents ||
			p.Currency != req.Currency || p.Status != payment.StatusSucceeded || p.ID == "" {
			t.Fatalf("charged %+v for %+v", p, req)
		}
	})
}
