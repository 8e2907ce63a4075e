package observability_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/observability"
)

// TestProblemCarriesTraceID: a problem written behind Middleware carries the
// trace id of the request's traceparent, read through the context
// (problem.WithTraceID), with no process-wide hook.
func TestProblemCarriesTraceID(t *testing.T) {
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	h := observability.Middleware(observability.MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, problem.Conflict("x"))
	}))
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set(observability.TraceparentHeader, "00-"+trace+"-00f067aa0ba902b7-01")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var p struct {
		TraceID string `json:"trace_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.TraceID != trace {
		t.Errorf("trace_id %q, want %q", p.TraceID, trace)
	}
}
