package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestWriteDependency: the dependency header goes out on a 503 only, with
// Retry-After, and never in the JSON body.
func TestWriteDependency(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   string
	}{{http.StatusServiceUnavailable, "payment"}, {http.StatusBadGateway, ""}, {http.StatusConflict, ""}} {
		p := New(tt.status, "x")
		p.Dependency, p.RetryAfter = "payment", 1500*time.Millisecond
		rec := httptest.NewRecorder()
		Write(rec, httptest.NewRequest(http.MethodGet, "/orders", nil), p)
		if got := rec.Header().Get(DependencyHeader); got != tt.want {
			t.Errorf("%d: %s = %q, want %q", tt.status, DependencyHeader, got, tt.want)
		}
		if rec.Header().Get("Retry-After") != "2" {
			t.Errorf("%d: Retry-After %q, want 2", tt.status, rec.Header().Get("Retry-After"))
		}
		if body := rec.Body.String(); len(body) == 0 || strings.Contains(body, "payment") {
			t.Errorf("%d: body %q names the dependency", tt.status, body)
		}
	}
}

// TestWriteTraceID: Write takes the trace id from the request's context
// (WithTraceID), and a problem that carries its own keeps it.
func TestWriteTraceID(t *testing.T) {
	for _, tt := range []struct{ ctxID, own, want string }{
		{"4bf92f3577b34da6a3ce929d0e0e4736", "", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"4bf92f3577b34da6a3ce929d0e0e4736", "own", "own"},
		{"", "", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		if tt.ctxID != "" {
			r = r.WithContext(WithTraceID(r.Context(), tt.ctxID))
		}
		p := New(http.StatusConflict, "x")
		p.TraceID = tt.own
		rec := httptest.NewRecorder()
		Write(rec, r, p)
		var got Error
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.TraceID != tt.want {
			t.Errorf("ctx %q, own %q: trace_id %q, want %q", tt.ctxID, tt.own, got.TraceID, tt.want)
		}
	}
}

// TestWriteTakesRetryAfterFromCause: a handler's 503 that wraps a cause
// saying when to come back (the store's "database unavailable") sends that
// Retry-After.
func TestWriteTakesRetryAfterFromCause(t *testing.T) {
	cause := fmt.Errorf("claim order: %w", Unavailable("the database is unavailable", 2*time.Second))
	rec := httptest.NewRecorder()
	Write(rec, httptest.NewRequest(http.MethodGet, "/x", nil), Wrap(http.StatusServiceUnavailable, "order store unavailable", cause))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("status %d, Retry-After %q; want 503 with 2", rec.Code, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	Write(rec, nil, Wrap(http.StatusServiceUnavailable, "x", errors.New("plain")))
	if rec.Header().Get("Retry-After") != "" {
		t.Fatalf("Retry-After %q from a cause that gives none", rec.Header().Get("Retry-After"))
	}
}

func TestInvalid(t *testing.T) {
	if p := Invalid(http.StatusBadRequest, "invalid thing", nil); p != nil {
		t.Fatalf("no bad fields: %+v, want nil", p)
	}
	bad := []FieldError{{Field: "a", Detail: "must be b"}}
	p := Invalid(http.StatusUnprocessableEntity, "invalid thing", bad)
	if p == nil || p.Status != http.StatusUnprocessableEntity || p.Detail != "invalid thing" || len(p.Errors) != 1 {
		t.Fatalf("Invalid = %+v", p)
	}
}
