package router

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
)

func do(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestAnswersAreProblems(t *testing.T) {
	var logs bytes.Buffer
	rt := New(slog.New(slog.NewJSONHandler(&logs, nil)))
	rt.HandleFunc(http.MethodGet, "/orders/:id", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(Param(r, "id")))
	})
	rt.HandleFunc(http.MethodGet, "/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })

	if rec := do(rt, http.MethodGet, "/orders/ord_1"); rec.Code != 200 || rec.Body.String() != "ord_1" {
		t.Fatalf("param route: %d %q", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodGet, "/orders/ord_1/", http.StatusNotFound}, // no redirect to a guessed path
		{http.MethodGet, "/ORDERS/ord_1", http.StatusNotFound},
		{http.MethodDelete, "/orders/ord_1", http.StatusMethodNotAllowed},
		{http.MethodGet, "/boom", http.StatusInternalServerError},
	} {
		rec := do(rt, tc.method, tc.target, "Authorization", "Bearer secret-token-value")
		if rec.Code != tc.want || !strings.HasPrefix(rec.Header().Get("Content-Type"), problem.ContentType) {
			t.Errorf("%s %s: %d %q, want %d problem+json", tc.method, tc.target, rec.Code, rec.Header().Get("Content-Type"), tc.want)
		}
		if rec.Code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") == "" {
			t.Errorf("405 without Allow")
		}
	}
	if !strings.Contains(logs.String(), "kaboom") || !strings.Contains(logs.String(), "http.panic") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "secret-token-value") {
		t.Errorf("panic log leaks the request's token: %s", logs.String())
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "handler") }),
		kittest.Mark(&order, "outer"), nil, kittest.Mark(&order, "inner"))
	do(h, http.MethodGet, "/")
	if got := strings.Join(order, ","); got != "outer,inner,handler" {
		t.Fatalf("order %s", got)
	}
}

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/api/v1/products", true},
		{"/api/v1/products/prd_001", true},
		{"/api/v1/products%20x", true},
		{"/api/v1/../internal/charges", false},
		{"/api/v1/./products", false},
		{"/api//v1/products", false},
		{"/api/v1%2fproducts", false},
		{"/api/v1%2Fproducts", false},
		{"/api/v1/%2e%2e/internal", false},
		{"/api/v1/%2E/products", false},
		{"/api/v1/%252e%252e/internal", false}, // double encoding
		{"/api/v1\\..\\internal", false},
		{"/api/v1/%5cinternal", false},
	} {
		if got := CleanPath(tc.path); got != tc.ok {
			t.Errorf("CleanPath(%q) = %v, want %v", tc.path, got, tc.ok)
		}
	}
}
