package apitest_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/api/apitest"
)

const (
	traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	order   = `{"id":"ord_1","user_id":"usr_alice","status":"confirmed","items":[{"product_id":"prd_001","quantity":2,"unit_price_cents":1999}],"total_cents":3998,"currency":"EUR","payment_id":"pay_1","created_at":"2026-12-01T09:00:00Z","updated_at":"2026-12-01T09:00:00Z"}`
	okBody  = `{"items":[{"product_id":"prd_001","quantity":2}]}`
)

func problemBody(status int, extra string) string {
	return `{"type":"about:blank","title":"x","status":` + strconv.Itoa(status) + `,"detail":"d","instance":"/api/v1/orders","trace_id":"` + traceID + `"` + extra + `}`
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// TestCheck shows that the helper tells documented answers from
// undocumented ones: each case is one hand-made request and answer.
func TestCheck(t *testing.T) {
	v := apitest.New(t)
	orderReq := func(body string, h ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/orders", strings.NewReader(body))
		r.Header = hdr(append([]string{"Content-Type", "application/json", "Authorization", "Bearer a.b.c", "Idempotency-Key", "k-1"}, h...)...)
		return r
	}
	problemCT := "application/problem+json"
	cases := []struct {
		name  string
		req   *http.Request
		body  string
		ans   apitest.Answer
		fails string // "" when the document describes the answer
	}{
		{"201 with Location", orderReq(okBody), okBody,
			apitest.Answer{201, hdr("Content-Type", "application/json", "Location", "http://127.0.0.1:8080/api/v1/orders/ord_1"), []byte(order)}, ""},
		{"201 without Location", orderReq(okBody), okBody,
			apitest.Answer{201, hdr("Content-Type", "application/json"), []byte(order)}, `"Location" missing`},
		{"undocumented status 500", orderReq(okBody), okBody,
			apitest.Answer{500, hdr("Content-Type", problemCT), []byte(problemBody(500, ""))}, "status is not supported"},
		{"undocumented order status", orderReq(okBody), okBody,
			apitest.Answer{201, hdr("Content-Type", "application/json", "Location", "http://127.0.0.1:8080/api/v1/orders/ord_1"),
				[]byte(strings.Replace(order, `"confirmed"`, `"lost"`, 1))}, "status"},
		{"503 with Retry-After", orderReq(okBody), okBody,
			apitest.Answer{503, hdr("Content-Type", problemCT, "Retry-After", "1"), []byte(problemBody(503, ""))}, ""},
		{"503 without Retry-After", orderReq(okBody), okBody,
			apitest.Answer{503, hdr("Content-Type", problemCT), []byte(problemBody(503, ""))}, `"Retry-After" missing`},
		{"problem without trace_id", orderReq(okBody), okBody,
			apitest.Answer{409, hdr("Content-Type", problemCT), []byte(strings.Replace(problemBody(409, ""), `,"trace_id":"`+traceID+`"`, "", 1))}, "trace_id"},
		{"problem status differs from the HTTP status", orderReq(okBody), okBody,
			apitest.Answer{409, hdr("Content-Type", problemCT), []byte(problemBody(422, ""))}, "status"},
		{"error as application/json", orderReq(okBody), okBody,
			apitest.Answer{400, hdr("Content-Type", "application/json"), []byte(problemBody(400, ""))}, "Content-Type"},
		{"quantity past the limit accepted", orderReq(`{"items":[{"product_id":"prd_001","quantity":10001}]}`), `{"items":[{"product_id":"prd_001","quantity":10001}]}`,
			apitest.Answer{201, hdr("Content-Type", "application/json", "Location", "http://127.0.0.1:8080/api/v1/orders/ord_1"), []byte(order)}, "refuses this request"},
		{"quantity past the limit refused", orderReq(`{"items":[{"product_id":"prd_001","quantity":10001}]}`), `{"items":[{"product_id":"prd_001","quantity":10001}]}`,
			apitest.Answer{400, hdr("Content-Type", problemCT), []byte(problemBody(400, `,"errors":[{"field":"items[0].quantity","detail":"must be from 1 to 10000"}]`))}, ""},
		{"stale catalogue", httptest.NewRequest(http.MethodGet, "/api/v1/products?limit=1", nil), "",
			apitest.Answer{200, hdr("Content-Type", "application/json", "X-Cache-Status", "stale", "Link", `<http://127.0.0.1:8080/api/v1/products?limit=1&offset=1>; rel="next"`),
				[]byte(`{"items":[{"id":"prd_001","name":"n","description":"","price_cents":1,"currency":"EUR","stock":1,"created_at":"2026-12-01T09:00:00Z"}],"limit":1,"offset":0,"total":2}`)}, ""},
		{"unknown cache status", httptest.NewRequest(http.MethodGet, "/api/v1/products", nil), "",
			apitest.Answer{200, hdr("Content-Type", "application/json", "X-Cache-Status", "hit"), []byte(`{"items":[],"limit":20,"offset":0,"total":0}`)}, "X-Cache-Status"},
		{"429 without Retry-After", httptest.NewRequest(http.MethodPost, "/api/v1/login", nil), "",
			apitest.Answer{429, hdr("Content-Type", problemCT), []byte(problemBody(429, ""))}, `"Retry-After" missing`},
		{"unknown path answered 404 problem", httptest.NewRequest(http.MethodGet, "/internal/stock", nil), "",
			apitest.Answer{404, hdr("Content-Type", problemCT), []byte(problemBody(404, ""))}, ""},
		{"unknown path answered 200", httptest.NewRequest(http.MethodGet, "/internal/stock", nil), "",
			apitest.Answer{200, hdr("Content-Type", "application/json"), []byte(`{}`)}, "no such route"},
		{"OPTIONS with the documented methods", httptest.NewRequest(http.MethodOptions, "/api/v1/orders", nil), "",
			apitest.Answer{200, hdr("Allow", "GET, OPTIONS, POST"), nil}, ""},
		{"OPTIONS naming an undocumented method", httptest.NewRequest(http.MethodOptions, "/api/v1/orders", nil), "",
			apitest.Answer{200, hdr("Allow", "DELETE, GET, OPTIONS, POST"), nil}, "Allow"},
		{"unknown method answered 405 problem", httptest.NewRequest(http.MethodDelete, "/api/v1/orders", nil), "",
			apitest.Answer{405, hdr("Content-Type", problemCT), []byte(problemBody(405, ""))}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Check(tc.req, []byte(tc.body), tc.ans)
			switch {
			case tc.fails == "" && err != nil:
				t.Fatalf("a documented answer was refused: %v", err)
			case tc.fails != "" && err == nil:
				t.Fatalf("an undocumented answer passed (want an error naming %q)", tc.fails)
			case tc.fails != "" && !strings.Contains(err.Error(), tc.fails):
				t.Fatalf("error %q does not name %q", err, tc.fails)
			}
		})
	}
}

// TestMiddlewareReports: an undocumented answer that goes through the
// middleware is reported, and the client gets the answer unchanged.
func TestMiddlewareReports(t *testing.T) {
	v := apitest.New(t)
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(problemBody(500, "")))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/orders", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"status":500`) {
		t.Fatalf("the client got %d %s", rec.Code, rec.Body)
	}
	got := v.Violations()
	if len(got) != 1 || !strings.Contains(got[0], "GET /api/v1/orders → 500") {
		t.Fatalf("violations %q", got)
	}
	if again := v.Violations(); len(again) != 0 {
		t.Fatalf("Violations did not forget: %q", again)
	}
}

// TestMemoKeepsVerdicts: an answer checked again (from the memo) gets the
// same verdict and is counted again; a different trace header does not
// matter, a different body does.
func TestMemoKeepsVerdicts(t *testing.T) {
	v := apitest.New(t)
	bad := apitest.Answer{Status: 503, Header: hdr("Content-Type", "application/problem+json"), Body: []byte(problemBody(503, ""))}
	good := apitest.Answer{Status: 503, Header: hdr("Content-Type", "application/problem+json", "Retry-After", "1"), Body: []byte(problemBody(503, ""))}
	for i := range 3 {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/products", nil)
		r.Header.Set("traceparent", "00-"+strings.Repeat(strconv.Itoa(i), 32)+"-00f067aa0ba902b7-01")
		if err := v.Check(r, nil, bad); err == nil {
			t.Fatalf("check %d: the undocumented answer passed", i)
		}
		if err := v.Check(r, nil, good); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
	if n := v.Seen()["listProducts 503"]; n != 6 {
		t.Fatalf("seen %d, want 6", n)
	}
}
