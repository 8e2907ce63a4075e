package kit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/resilience"
)

func TestUnavailable(t *testing.T) {
	req, _ := NewRequest(context.Background(), http.MethodGet, "http://127.0.0.1:1/x", nil)
	connErr := Do(DefaultClient(), req, nil)
	for _, tc := range []struct {
		name string
		err  error
		want bool
		code int
	}{
		{"breaker open", fmt.Errorf("call: %w", resilience.ErrOpen), true, 503},
		{"bulkhead", resilience.ErrBulkheadFull, true, 503},
		{"token service down", fmt.Errorf("%w: x", auth.ErrUnavailable), true, 503},
		{"connection refused", connErr, true, 503},
		{"503 answer", &StatusError{Status: 503}, true, 503},
		// issue 17: a 429 is the caller's own limit, passed on as 429 with
		// its Retry-After, never "x is temporarily unavailable".
		{"429 answer", &StatusError{Status: 429, Retry: 42 * time.Second, Problem: problem.Error{Detail: "too many failed logins"}}, false, 429},
		{"404 answer", &StatusError{Status: 404, Problem: problem.Error{Detail: "gone"}}, false, 404},
		{"plain bug", errors.New("boom"), false, 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := Unavailable(tc.err); ok != tc.want {
				t.Fatalf("Unavailable = %v", ok)
			}
			p := UpstreamProblem("x", tc.err)
			if p.Status != tc.code || (tc.code == 503 && p.RetryAfter <= 0) {
				t.Fatalf("problem %+v", p)
			}
			if tc.code == 429 && (p.RetryAfter != 42*time.Second || p.Detail == "" || p.Dependency != "") {
				t.Fatalf("429 problem %+v: want its Retry-After and detail, no dependency", p)
			}
		})
	}
}

func TestValidIdempotencyKey(t *testing.T) {
	for k, want := range map[string]bool{
		"a": true, "order-123_!~": true, strings.Repeat("k", 255): true,
		"": false, strings.Repeat("k", 256): false, "a b": false, "a\x7f": false, "é": false,
	} {
		if ValidIdempotencyKey(k) != want {
			t.Errorf("ValidIdempotencyKey(%q) != %v", k, want)
		}
	}
}

func TestHealthzNamesTheService(t *testing.T) {
	h := Handler(&Options{Name: "payment"}, router.New(nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, RouteHealthz, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var body struct{ Status, Service string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "ok" || body.Service != "payment" {
		t.Fatalf("body %s", rec.Body)
	}
}

func TestPositive(t *testing.T) {
	for _, tc := range []struct{ v, want time.Duration }{
		{0, time.Second}, {-time.Minute, time.Second}, {time.Millisecond, time.Millisecond},
	} {
		if got := Positive(tc.v, time.Second); got != tc.want {
			t.Errorf("Positive(%v, 1s) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
