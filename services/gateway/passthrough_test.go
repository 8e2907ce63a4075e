package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faultlab/faultlab/api/apitest"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/resilience"
)

// TestUnavailableUpstreamExplainsItself: when the resilience client gives
// up on an upstream that answered 503 with a problem document (order, whose
// payment is down), the client sees that explanation and its Retry-After,
// on the public path, not a generic "order is temporarily unavailable".
func TestUnavailableUpstreamExplainsItself(t *testing.T) {
	order := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", problem.ContentType)
		w.Header().Set("Retry-After", "5") // above MaxRetryAfter: no retry
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"type":"about:blank","title":"Service Unavailable","status":503,`+
			`"detail":"payment is temporarily unavailable","instance":"/orders","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`)
	}))
	t.Cleanup(order.Close)
	tr, err := resilience.New(resilience.Config{Name: "order"})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := New(Config{Base: kit.Base{Keys: auth.Keys{Gateway: kittest.Keys.Gateway}},
		OrderURL: order.URL, OrderClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	srv := kittest.Serve(t, apitest.Wrap(t, gw))
	r := kittest.Call(t, http.MethodPost, srv.URL+"/api/v1/orders", map[string]any{"items": []any{}},
		"Authorization", "Bearer a.b.c", kit.IdempotencyKeyHeader, "explain-1")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Content-Type") != problem.ContentType || r.Header.Get("Retry-After") != "5" {
		t.Fatalf("got %d %q Retry-After %q: %s", r.Status, r.Header.Get("Content-Type"), r.Header.Get("Retry-After"), r.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p["detail"] != "payment is temporarily unavailable" || p["instance"] != "/api/v1/orders" {
		t.Errorf("detail %q, instance %q: want order's explanation on the public path", p["detail"], p["instance"])
	}
}

func TestWithMember(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`{"type":"about:blank","title":"Conflict","status":409,"instance":"/orders","trace_id":"x"}`,
			`{"type":"about:blank","title":"Conflict","status":409,"instance":"/api/v1/orders","trace_id":"x"}` + "\n", true},
		{` {"title":"T", "errors":[{"field":"a"}]}` + "\n",
			`{"title":"T","errors":[{"field":"a"}],"instance":"/api/v1/orders"}` + "\n", true},
		{`{}`, `{"instance":"/api/v1/orders"}` + "\n", true},
		{`[1,2]`, "", false},
		{`{"a":1}{"b":2}`, "", false},
		{`{"a":1`, "", false},
		{`"text"`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		got, ok := withMember([]byte(tt.in), "instance", "/api/v1/orders")
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("withMember(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestLoginLimitPassesThrough: user's 429 (too many failed logins) reaches
// the client as a 429 with its Retry-After and explanation, through the
// resilience client the real gateway uses. Before, the client got a 503
// "user is temporarily unavailable", which tells it to retry soon rather
// than that it is being limited.
func TestLoginLimitPassesThrough(t *testing.T) {
	users := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", problem.ContentType)
		w.Header().Set("Retry-After", "42")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"type":"about:blank","title":"Too Many Requests","status":429,`+
			`"detail":"too many failed logins; try again later","instance":"/users/api/login","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`)
	}))
	t.Cleanup(users.Close)
	tr, err := resilience.New(resilience.Config{Name: "user"})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := New(Config{Base: kit.Base{Keys: auth.Keys{Gateway: kittest.Keys.Gateway}},
		UserURL: users.URL, UserClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	srv := kittest.Serve(t, apitest.Wrap(t, gw))
	r := kittest.Call(t, http.MethodPost, srv.URL+"/api/v1/login", map[string]string{"email": "bob@example.com", "password": "guess"})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "42" {
		t.Fatalf("got %d Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p["detail"] != "too many failed logins; try again later" || p["instance"] != "/api/v1/login" {
		t.Errorf("detail %q, instance %q: want user's explanation on the public path", p["detail"], p["instance"])
	}
}
