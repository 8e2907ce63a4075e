package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultlab/faultlab/chaos/console"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/resilience/clocktest"
	"github.com/faultlab/faultlab/topology"
)

// fakeService is a stand-in for one service: real Prometheus metrics under
// the lab's names, moved by the test, and a real fault injector's API.
type fakeService struct {
	requests *prometheus.CounterVec // faultlab_client_requests_total
	breaker  *prometheus.GaugeVec   // faultlab_circuitbreaker_state
	http     *prometheus.CounterVec // faultlab_http_requests_total
	duration *prometheus.HistogramVec
	faults   *fault.Injector
}

func newFakeService(t *testing.T) (*fakeService, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	f := &fakeService{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faultlab_client_requests_total"}, []string{"name", "outcome"}),
		breaker:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "faultlab_circuitbreaker_state"}, []string{"name", "state"}),
		http:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faultlab_http_requests_total"}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "faultlab_http_request_duration_seconds", Buckets: []float64{.01, .1, 1}}, []string{"route", "method"}),
		faults:   fault.New(fault.Config{}),
	}
	reg.MustRegister(f.requests, f.breaker, f.http, f.duration)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle(fault.Path, f.faults.Handler())
	mux.Handle(fault.Path+"/", f.faults.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// fakeLab is a lab.Remote over fake services and a real embedded
// Toxiproxy with one proxy per hop.
type fakeLab struct {
	remote   *lab.Remote
	services map[string]*fakeService
	toxi     *toxi.Server
}

func newFakeLab(t *testing.T) *fakeLab {
	t.Helper()
	fl := &fakeLab{services: map[string]*fakeService{}}
	urls := map[string]string{}
	for _, name := range topology.Names() {
		fl.services[name], urls[name] = newFakeService(t)
	}
	ts, err := toxi.Start(t.Context(), toxi.Config{APIAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(func() { _ = ts.Close() })
	var hops []toxi.Hop
	for _, h := range topology.Hops() {
		hops = append(hops, toxi.Hop{Name: h.Name, Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(urls[h.Callee], "http://")})
	}
	if _, err := ts.CreateHops(hops); err != nil {
		t.Fatal(err)
	}
	fl.toxi = ts
	fl.remote = lab.NewRemote(lab.RemoteConfig{URLs: urls, ToxiproxyURL: ts.URL(), ServiceKey: "k"})
	return fl
}

// newConsole serves a console over a fake lab on an httptest server. The
// scrape loop is not running; tests call Scrape or Run themselves.
func newConsole(t *testing.T, clock *clocktest.Clock) (*fakeLab, *console.Server, *httptest.Server) {
	t.Helper()
	fl := newFakeLab(t)
	c, err := console.New(console.Config{Lab: fl.remote, Clock: clock, Every: time.Second, Token: "secret-token"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return fl, c, srv
}

// TestEventsStream reads the event stream while the fake clock moves the
// scrape loop on: the first event is the state at once, and the next one
// has the rates of the counters the test moved over the one second the
// clock advanced, and the breaker's state.
func TestEventsStream(t *testing.T) {
	clock := clocktest.New(clocktest.Epoch)
	fl, c, srv := newConsole(t, clock)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	go c.Run(ctx)
	clock.BlockUntil(t, 1) // the first scrape is done; the loop waits

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	events := sseStates(t, resp.Body)
	first := <-events
	if hop := hopOf(t, first, "order-to-payment"); hop.RPS != 0 || hop.Breaker != "unknown" {
		t.Errorf("first state: order-to-payment %+v, want no traffic and an unknown breaker", hop)
	}

	order := fl.services[topology.Order]
	order.requests.WithLabelValues("payment", "success").Add(30)
	order.requests.WithLabelValues("payment", "failure").Add(10)
	order.breaker.WithLabelValues("payment", "open").Set(1)
	gw := fl.services[topology.Gateway]
	gw.http.WithLabelValues("/api/v1/orders", "POST", "201").Add(8)
	gw.http.WithLabelValues("/api/v1/orders", "POST", "503").Add(2)
	gw.http.WithLabelValues("/metrics", "GET", "200").Add(5) // the console's own: left out
	for range 10 {
		gw.duration.WithLabelValues("/api/v1/orders", "POST").Observe(0.05)
	}
	clock.Advance(time.Second)

	deadline := time.After(10 * time.Second)
	for {
		var st console.State
		select {
		case st = <-events:
		case <-deadline:
			t.Fatal("no state with the new rates within 10s")
		}
		hop := hopOf(t, st, "order-to-payment")
		if hop.RPS == 0 {
			continue // a state published before the scrape
		}
		if hop.RPS != 40 || hop.ErrorRate != 0.25 || hop.Breaker != "open" {
			t.Errorf("order-to-payment = %+v, want 40 req/s, error rate 0.25, breaker open", hop)
		}
		if len(st.Routes) != 1 {
			t.Fatalf("routes = %+v, want only the gateway's /api/v1/orders", st.Routes)
		}
		r := st.Routes[0]
		if r.Service != "gateway" || r.RPS != 10 || r.ErrorRate != 0.2 || r.P99Ms == nil || *r.P99Ms < 10 || *r.P99Ms > 100 {
			t.Errorf("route = %+v (p99 %v), want gateway 10 req/s, error rate 0.2, p99 in (10ms, 100ms]", r, deref(r.P99Ms))
		}
		return
	}
}

func hopOf(t *testing.T, st console.State, name string) console.HopState {
	t.Helper()
	return find(t, st.Hops, name, func(h console.HopState) string { return h.Name })
}

func serviceOf(t *testing.T, st console.State, name string) console.ServiceState {
	t.Helper()
	return find(t, st.Services, name, func(s console.ServiceState) string { return s.Name })
}

// find returns the item called name, or fails the test.
func find[T any](t *testing.T, items []T, name string, nameOf func(T) string) T {
	t.Helper()
	for _, it := range items {
		if nameOf(it) == name {
			return it
		}
	}
	t.Fatalf("state has no %s", name)
	var zero T
	return zero
}

// sseStates decodes the "state" events of a stream.
func sseStates(t *testing.T, body io.Reader) <-chan console.State {
	out := make(chan console.State, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "state":
				var st console.State
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st); err != nil {
					t.Errorf("bad state event: %v", err)
					return
				}
				out <- st
			}
		}
	}()
	return out
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// do sends one request to the console, with the token unless noToken.
func do(t *testing.T, srv *httptest.Server, method, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(console.TokenHeader, "secret-token")
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestAPIRefusesBadInput: every bad request gets its status as
// problem+json with a detail, never a 500.
func TestAPIRefusesBadInput(t *testing.T) {
	_, _, srv := newConsole(t, clocktest.New(clocktest.Epoch))
	down := `{"hop":"order-to-payment","kind":"down"}`
	tests := []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		detail                   string
	}{
		{"no token", "POST", "/api/toxics", down, map[string]string{console.TokenHeader: ""}, 403, "X-Console-Token"},
		{"wrong token", "POST", "/api/toxics", down, map[string]string{console.TokenHeader: "guess"}, 403, "X-Console-Token"},
		{"another site's page", "POST", "/api/toxics", down, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "cross-site"},
		{"another origin", "POST", "/api/toxics", down, map[string]string{"Origin": "http://evil.example"}, 403, "cross-origin"},
		{"a rebound DNS name", "GET", "/api/state", "", map[string]string{"Host": "evil.example:8090"}, 403, "loopback"},
		{"not JSON", "POST", "/api/toxics", "{", nil, 400, ""},
		{"wrong content type", "POST", "/api/toxics", down, map[string]string{"Content-Type": "text/plain"}, 415, "application/json"},
		{"unknown field", "POST", "/api/toxics", `{"hop":"order-to-payment","kind":"down","colour":"red"}`, nil, 400, "colour"},
		{"unknown hop", "POST", "/api/toxics", `{"hop":"order-to-moon","kind":"down"}`, nil, 422, "order-to-moon"},
		{"unknown kind", "POST", "/api/toxics", `{"hop":"order-to-payment","kind":"gremlins"}`, nil, 422, "gremlins"},
		{"latency without a latency", "POST", "/api/toxics", `{"hop":"order-to-payment","kind":"latency"}`, nil, 422, "latency_ms"},
		{"toxicity 0", "POST", "/api/toxics", `{"hop":"order-to-payment","kind":"latency","latency_ms":5,"toxicity":0}`, nil, 400, "toxicity"},
		{"remove on an unknown hop", "DELETE", "/api/toxics/order-to-moon/down", "", nil, 404, "order-to-moon"},
		{"remove a toxic that is not there", "DELETE", "/api/toxics/order-to-payment/latency_downstream", "", nil, 404, "toxiproxy"},
		{"fault on the gateway", "POST", "/api/faults/gateway", `{"name":"x","kind":"status","status":503}`, nil, 422, "gateway"},
		{"fault on an unknown service", "POST", "/api/faults/moon", `{"name":"x","kind":"status","status":503}`, nil, 404, "moon"},
		{"fault with status 200", "POST", "/api/faults/payment", `{"name":"x","kind":"status","status":200}`, nil, 422, "status"},
		{"fault with a bad delay", "POST", "/api/faults/payment", `{"name":"x","kind":"delay","delay":"soon"}`, nil, 400, "delay"},
		{"remove a fault that is not there", "DELETE", "/api/faults/payment/nothing", "", nil, 404, "nothing"},
		{"unknown scenario", "POST", "/api/runs", `{"scenario":"meteor-strike"}`, nil, 422, "meteor-strike"},
		{"run without a body", "POST", "/api/runs", "", nil, 415, ""},
		{"wrong method", "GET", "/api/runs", "", nil, 405, "POST"},
		{"wrong method on the page", "DELETE", "/", "", nil, 405, "GET"},
		{"no such endpoint", "GET", "/api/nothing", "", nil, 404, "/api/nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, srv, tt.method, tt.path, tt.body, tt.hdr)
			var p struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("status %d, Content-Type %q; want problem+json", resp.StatusCode, ct)
			}
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || p.Status != tt.status || p.Title == "" || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("got %d %+v; want %d with a detail naming %q", resp.StatusCode, p, tt.status, tt.detail)
			}
		})
	}
}

// TestAPIAddsAndRemovesFaults adds a toxic and an HTTP fault through the
// API, sees them in the state at once (and in Toxiproxy and the service),
// and removes them.
func TestAPIAddsAndRemovesFaults(t *testing.T) {
	fl, c, srv := newConsole(t, clocktest.New(clocktest.Epoch))
	c.Scrape(t.Context())
	steps := []struct {
		method, path, body string
		status             int
		check              func(console.State) bool
	}{
		{"POST", "/api/toxics", `{"hop":"order-to-payment","kind":"latency","latency_ms":300}`, 201, func(st console.State) bool {
			tx := hopOf(t, st, "order-to-payment").Toxics
			return len(tx) == 1 && tx[0].Name == "latency_downstream" && tx[0].Kind == "latency"
		}},
		{"POST", "/api/toxics", `{"hop":"order-to-payment","kind":"down"}`, 201, func(st console.State) bool {
			h := hopOf(t, st, "order-to-payment")
			return !h.Enabled && len(h.Toxics) == 2 && h.Toxics[0].Name == "down"
		}},
		{"POST", "/api/faults/payment", `{"name":"boom","kind":"status","status":503,"path_prefix":"/payments"}`, 201, func(st console.State) bool {
			fs := serviceOf(t, st, "payment").Faults
			return len(fs) == 1 && fs[0].Name == "boom" && fl.services["payment"].faults.List()[0].Status == 503
		}},
		{"DELETE", "/api/toxics/order-to-payment/down", "", 204, func(st console.State) bool {
			return hopOf(t, st, "order-to-payment").Enabled
		}},
		{"DELETE", "/api/toxics/order-to-payment/latency_downstream", "", 204, func(st console.State) bool {
			return len(hopOf(t, st, "order-to-payment").Toxics) == 0
		}},
		{"DELETE", "/api/faults/payment/boom", "", 204, func(st console.State) bool {
			return len(serviceOf(t, st, "payment").Faults) == 0 && len(fl.services["payment"].faults.List()) == 0
		}},
	}
	for _, s := range steps {
		resp := do(t, srv, s.method, s.path, s.body, nil)
		if resp.StatusCode != s.status {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %d %s, want %d", s.method, s.path, resp.StatusCode, b, s.status)
		}
		if !s.check(c.State()) {
			t.Fatalf("%s %s: the state does not show it: %+v", s.method, s.path, c.State())
		}
	}
}

// TestPage: the page embeds its token and forbids inline code and framing;
// its script and style are served from the binary.
func TestPage(t *testing.T) {
	_, _, srv := newConsole(t, clocktest.New(clocktest.Epoch))
	resp := do(t, srv, "GET", "/", "", nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `<meta name="console-token" content="secret-token">`) {
		t.Fatalf("page: %d, token meta missing:\n%s", resp.StatusCode, b)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for path, ct := range map[string]string{"/console.js": "text/javascript", "/console.css": "text/css"} {
		resp := do(t, srv, "GET", path, "", nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestRunReportsItsEnd starts a scenario against a lab whose gateway does
// not log in: the run ends at once, and the state says why.
func TestRunReportsItsEnd(t *testing.T) {
	_, c, srv := newConsole(t, clocktest.New(clocktest.Epoch))
	resp := do(t, srv, "POST", "/api/runs", `{"scenario":"payment-down"}`, nil)
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("start: %d %s", resp.StatusCode, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := c.State()
		if st.Run != nil && !st.Run.Running {
			if st.Run.Scenario != "payment-down" || !strings.Contains(st.Run.Error, "login") {
				t.Errorf("run = %+v, want payment-down ended with a login error", st.Run)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not end within 10s: %+v", st.Run)
		}
		runtime.Gosched()
	}
}

// TestReplicas: a service with several endpoints shows one box each; its
// hops add up every replica's calls, and show the worst breaker.
func TestReplicas(t *testing.T) {
	fl := newFakeLab(t)
	second, url2 := newFakeService(t)
	clock := clocktest.New(clocktest.Epoch)
	c, err := console.New(console.Config{Lab: fl.remote, Clock: clock,
		Endpoints: map[string][]string{topology.Order: {fl.remote.URL(topology.Order), url2}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	first := fl.services[topology.Order]
	first.breaker.WithLabelValues("payment", "closed").Set(1)
	second.breaker.WithLabelValues("payment", "half_open").Set(1)
	c.Scrape(t.Context())
	first.requests.WithLabelValues("payment", "success").Add(6)
	second.requests.WithLabelValues("payment", "rejected").Add(4)
	clock.Advance(2 * time.Second)
	c.Scrape(t.Context())

	st := c.State()
	eps := serviceOf(t, st, topology.Order).Endpoints
	if len(eps) != 2 || !eps[0].Up || !eps[1].Up || eps[1].URL != url2 {
		t.Errorf("order's endpoints = %+v, want both replicas up", eps)
	}
	h := hopOf(t, st, "order-to-payment")
	if h.RPS != 5 || h.ErrorRate != 0.4 || h.Breaker != "half_open" {
		t.Errorf("order-to-payment = %+v, want 5 req/s over both replicas, error rate 0.4, breaker half_open (the worst)", h)
	}
}
