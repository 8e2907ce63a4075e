package gateway

import (
	"encoding/json"
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
	// Retry-After 5 is above MaxRetryAfter: no retry.
	srv := behindGateway(t, "order", http.StatusServiceUnavailable, "5", "payment is temporarily unavailable", "/orders")
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
	srv := behindGateway(t, "user", http.StatusTooManyRequests, "42", "too many failed logins; try again later", "/users/api/login")
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

// behindGateway serves a gateway whose upstream (user or order) answers
// every request with the problem status and detail at instance, with
// Retry-After retryAfter, through the resilience client the real gateway
// uses. Every answer is checked against api/openapi.yaml.
func behindGateway(t *testing.T, upstream string, status int, retryAfter, detail, instance string) *httptest.Server {
	t.Helper()
	body, err := json.Marshal(problem.Error{Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: detail, Instance: instance, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"})
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", problem.ContentType)
		w.Header().Set("Retry-After", retryAfter)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(up.Close)
	tr, err := resilience.New(resilience.Config{Name: upstream})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Base: kit.Base{Keys: auth.Keys{Gateway: kittest.Keys.Gateway}}}
	switch upstream {
	case "user":
		cfg.UserURL, cfg.UserClient = up.URL, &http.Client{Transport: tr}
	case "order":
		cfg.OrderURL, cfg.OrderClient = up.URL, &http.Client{Transport: tr}
	default:
		t.Fatalf("behindGateway: no upstream %q", upstream)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kittest.Serve(t, apitest.Wrap(t, gw))
}
