package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/toxi"
)

// fakeEnv is a gateway whose order route fails fast while the fake
// "order-to-payment down" fault is applied, with a breaker gauge that
// follows the fault.
type fakeEnv struct {
	url      string
	down     atomic.Bool
	broken   atomic.Bool // every route answers 500
	calls    atomic.Int64
	attempts atomic.Int64
	mu       sync.Mutex
	applied  []string
	reverted []string
}

func newFakeEnv(t testing.TB) *fakeEnv {
	t.Helper()
	e := &fakeEnv{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/products", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"items":[{"id":"p1"},{"id":"p2"}],"total":2}`))
	})
	mux.HandleFunc("GET /api/v1/products/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })
	mux.HandleFunc("POST /api/v1/orders", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") == "" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad", 400)
			return
		}
		e.calls.Add(1)
		e.attempts.Add(2)
		if e.down.Load() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "payment unavailable", 503)
			return
		}
		w.WriteHeader(201)
		w.Write([]byte(`{"id":"o1"}`))
	})
	mux.HandleFunc("GET /api/v1/orders/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.broken.Load() {
			http.Error(w, "broken", 500)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

func (e *fakeEnv) GatewayURL() string                        { return e.url }
func (e *fakeEnv) HTTPClient() *http.Client                  { return &http.Client{Timeout: 5 * time.Second} }
func (e *fakeEnv) Token(ctx context.Context) (string, error) { return "tok", nil }
func (e *fakeEnv) ApplyFault(ctx context.Context, f chaos.FaultSpec) error {
	e.note(&e.applied, f, true)
	return nil
}
func (e *fakeEnv) RevertFault(ctx context.Context, f chaos.FaultSpec) error {
	e.note(&e.reverted, f, false)
	return nil
}

// note appends f's hop to list and says whether the fault is on.
func (e *fakeEnv) note(list *[]string, f chaos.FaultSpec, down bool) {
	e.mu.Lock()
	*list = append(*list, f.ToxicFault().Hop)
	e.mu.Unlock()
	e.down.Store(down)
}
func (e *fakeEnv) ResetFaults(ctx context.Context) error { e.down.Store(false); return nil }
func (e *fakeEnv) Metrics(ctx context.Context, service string) (chaos.MetricFamilies, error) {
	open, closed := 0, 1
	if e.down.Load() {
		open, closed = 1, 0
	}
	text := fmt.Sprintf(`# TYPE faultlab_circuitbreaker_state gauge
faultlab_circuitbreaker_state{name="payment",state="open"} %d
faultlab_circuitbreaker_state{name="payment",state="half_open"} 0
faultlab_circuitbreaker_state{name="payment",state="closed"} %d
# TYPE faultlab_client_attempts_total counter
faultlab_client_attempts_total{name="payment",outcome="success"} %d
# TYPE faultlab_client_requests_total counter
faultlab_client_requests_total{name="payment",outcome="success"} %d
`, open, closed, e.attempts.Load(), e.calls.Load())
	return chaos.ParseMetrics(strings.NewReader(text))
}
func (e *fakeEnv) Charges(ctx context.Context) (chaos.ChargeSummary, error) {
	return chaos.ChargeSummary{Total: 10}, nil
}
func (e *fakeEnv) Stock(ctx context.Context) (chaos.StockSummary, error) {
	return chaos.StockSummary{Initial: 100, Available: 90, Reserved: 2, Sold: 8}, nil
}
func (e *fakeEnv) Events(ctx context.Context, action string, since time.Time) ([]map[string]any, error) {
	return []map[string]any{{"event.action": action, "service.name": "order"}}, nil
}
func (e *fakeEnv) Alerts(ctx context.Context) ([]chaos.Alert, error) {
	return nil, fmt.Errorf("no prometheus: %w", chaos.ErrNotSupported)
}

// alertingEnv is fakeEnv with a Prometheus: BreakerOpen fires once the
// fault is applied and keeps firing (keep_firing_for).
type alertingEnv struct {
	*fakeEnv
	active atomic.Pointer[time.Time]
}

func (e *alertingEnv) Alerts(ctx context.Context) ([]chaos.Alert, error) {
	if e.down.Load() && e.active.Load() == nil {
		now := time.Now()
		e.active.CompareAndSwap(nil, &now)
	}
	at := e.active.Load()
	if at == nil {
		return []chaos.Alert{{Name: "Unrelated", State: "firing"}}, nil
	}
	return []chaos.Alert{{Name: "BreakerOpen", State: "firing", ActiveAt: *at, Labels: map[string]string{"job": "order"}}}, nil
}

func testScenario() chaos.Scenario {
	return chaos.Scenario{
		Name: "fake-payment-down",
		Faults: []chaos.Step{{Name: "payment down", At: 500 * time.Millisecond, Until: 1500 * time.Millisecond,
			Fault: chaos.FaultSpec{Kind: chaos.FaultToxic, Hop: "order-to-payment", Toxic: toxi.Toxic{Kind: toxi.Down}}}},
		Load: chaos.LoadProfile{Rate: 40, Duration: 2500 * time.Millisecond, Concurrency: 8,
			Mix: []chaos.MixEntry{{Call: chaos.CallListProducts, Weight: 1}, {Call: chaos.CallCreateOrder, Weight: 1}, {Call: chaos.CallGetOrder, Weight: 1}}},
		Hypothesis: []chaos.Check{
			{Kind: chaos.CheckSuccessRate, Phase: chaos.PhaseBefore, Min: 0.99},
			{Kind: chaos.CheckSuccessRate, Phase: chaos.PhaseDuring, Call: chaos.CallListProducts, Min: 0.99},
			{Kind: chaos.CheckStatusSeen, Phase: chaos.PhaseDuring, Call: chaos.CallCreateOrder, Status: 503, Min: 0.9},
			{Kind: chaos.CheckHeader, Phase: chaos.PhaseDuring, Call: chaos.CallCreateOrder, Status: 503, Header: "Retry-After", Min: 1},
			{Kind: chaos.CheckBreakerOpens, Service: "order", Upstream: "payment", Within: 500 * time.Millisecond},
			{Kind: chaos.CheckBreakerCloses, Service: "order", Upstream: "payment", Within: 500 * time.Millisecond},
			{Kind: chaos.CheckRetryAmplification, Service: "order", Upstream: "payment", Max: 2.5},
			{Kind: chaos.CheckNoDoubleCharge},
			{Kind: chaos.CheckStockConsistent},
			{Kind: chaos.CheckLogEvent, Action: "breaker.state_change", Service: "order"},
			{Kind: chaos.CheckAlertFires, Alert: "BreakerOpen"},
			{Kind: chaos.CheckSuccessRate, Phase: chaos.PhaseAfter, Min: 0.99},
			{Kind: chaos.CheckLatency, Phase: chaos.PhaseOverall, Quantile: 0.99, MaxLatency: time.Nanosecond}, // must fail
		},
	}
}

func TestRun(t *testing.T) {
	env := newFakeEnv(t)
	var progress bytes.Buffer
	res, err := chaos.Run(context.Background(), env, testScenario(), chaos.Options{SteadyState: 500 * time.Millisecond, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Aborted != "" || len(res.Errors) > 0 {
		t.Fatalf("aborted %q errors %v", res.Aborted, res.Errors)
	}
	want := map[string]string{ // check kind+phase → pass, fail or skip
		"success_rate/before":         "pass",
		"success_rate/during":         "pass",
		"status_seen/during":          "pass",
		"header/during":               "pass",
		"breaker_opens/overall":       "pass",
		"breaker_closes/overall":      "pass",
		"retry_amplification/overall": "pass",
		"no_double_charge/overall":    "pass",
		"stock_consistent/overall":    "pass",
		"log_event/overall":           "pass",
		"alert_fires/overall":         "skip",
		"success_rate/after":          "pass",
		"latency/overall":             "fail",
	}
	for _, v := range res.Verdicts {
		got := strings.ToLower(v.Word())
		if w := want[v.Kind.String()+"/"+v.Phase]; got != w {
			t.Errorf("%s/%s: %s (measured %s, want %s, note %s); expected %s", v.Kind, v.Phase, got, v.Measured, v.Want, v.Note, w)
		}
	}
	if res.Passed() {
		t.Error("Passed() with a failing verdict")
	}
	if len(res.Windows) != 1 || res.Windows[0].Start < 450*time.Millisecond || res.Windows[0].End < 1450*time.Millisecond {
		t.Errorf("windows %+v", res.Windows)
	}
	if len(env.applied) != 1 || env.applied[0] != "order-to-payment" || len(env.reverted) != 1 {
		t.Errorf("applied %v reverted %v", env.applied, env.reverted)
	}
	if len(res.Timeline) < 2 || len(res.Failures) == 0 || res.Failures[0].TraceID == "" {
		t.Errorf("timeline %d points, failures %+v", len(res.Timeline), res.Failures)
	}
	// The 2.5s load's last second is half a second; stragglers past the
	// end join it rather than draw a second of their own.
	if last := res.Timeline[len(res.Timeline)-1]; last.Offset != 2 || last.Span != 500*time.Millisecond {
		t.Errorf("last timeline point %+v, want offset 2 with a 500ms span", last)
	}
	var sawOpen, sawFault bool
	for _, p := range res.Timeline {
		sawOpen = sawOpen || p.Breakers["order→payment"] == "open"
		sawFault = sawFault || len(p.Faults) > 0
	}
	if !sawOpen || !sawFault {
		t.Errorf("timeline lacks breaker state or faults: %+v", res.Timeline)
	}
	// The live line is rewritten with \r; every line ends with a newline,
	// so that the verdict table printed next starts on its own line.
	p := progress.String()
	if !strings.Contains(p, "\r") || !strings.Contains(p, "req") || !strings.HasSuffix(p, "\n") {
		t.Errorf("progress %q", p)
	}
	for _, want := range []string{"fake-payment-down: steady-state probe before the faults (500ms)… done\n", "fake-payment-down: steady-state probe after the faults (500ms)… done\n"} {
		if !strings.Contains(p, want) {
			t.Errorf("progress %q lacks %q", p, want)
		}
	}
	if strings.Contains(p, "0.0s/") {
		t.Errorf("progress %q shows a probe as 0.0s of the main load", p)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("result is not JSON: %v", err)
	}
}

func TestRunRecordsTimeToDetect(t *testing.T) {
	env := &alertingEnv{fakeEnv: newFakeEnv(t)}
	sc := testScenario()
	res, err := chaos.Run(context.Background(), env, sc, chaos.Options{SteadyState: 300 * time.Millisecond, SampleEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var v *chaos.Verdict
	for i := range res.Verdicts {
		if res.Verdicts[i].Kind == chaos.CheckAlertFires {
			v = &res.Verdicts[i]
		}
	}
	if v == nil || !v.Pass || !strings.Contains(v.Measured, "after the fault began") {
		t.Fatalf("alert verdict %+v", v)
	}
	if len(res.Detections) != 1 {
		t.Fatalf("detections %+v", res.Detections)
	}
	d := res.Detections[0]
	// The alert goes firing with the fault, so it is detected after the
	// fault began and before it ended.
	fault := res.Windows[0]
	if d.Alert != "BreakerOpen" || d.Fault != fault.Start || d.TimeToDetect() < 0 || d.Firing > fault.End || d.ActiveAt < fault.Start {
		t.Fatalf("detection %+v (ttd %v), fault %+v", d, d.TimeToDetect(), fault)
	}
	var md bytes.Buffer
	if err := chaos.WriteMarkdown(&md, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "## Alerts") || !strings.Contains(md.String(), "| BreakerOpen |") {
		t.Fatalf("report lacks the alert table:\n%s", md.String())
	}
	var page bytes.Buffer
	if err := chaos.WriteHTML(&page, res); err != nil || !strings.Contains(page.String(), "time to detect") {
		t.Fatalf("HTML report lacks the alert table (%v)", err)
	}
}

func TestRunAbortsWithoutSteadyState(t *testing.T) {
	env := newFakeEnv(t)
	env.broken.Store(true)
	sc := testScenario()
	res, err := chaos.Run(context.Background(), env, sc, chaos.Options{SteadyState: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Aborted == "" || res.Passed() {
		t.Fatalf("want an aborted, failed run; got aborted=%q", res.Aborted)
	}
	if len(env.applied) != 0 {
		t.Fatalf("faults applied after a failed steady state: %v", env.applied)
	}
	if len(res.Verdicts) != len(sc.Hypothesis) {
		t.Fatalf("%d verdicts for %d checks", len(res.Verdicts), len(sc.Hypothesis))
	}
}

func TestRunRejectsBadScenario(t *testing.T) {
	sc := testScenario()
	sc.Faults[0].Until = 100 * time.Millisecond // before At
	if _, err := chaos.Run(context.Background(), newFakeEnv(t), sc, chaos.Options{}); err == nil || !strings.Contains(err.Error(), "not after") {
		t.Fatalf("got %v", err)
	}
}

// TestWorkload: the one workload builder orders the most stocked product,
// or with Spread every product in stock in turn; it sends the token and
// the Idempotency-Key that Key makes, and records orders when it has a
// Recorder. A call it does not know, or a login without Credentials, is an
// error.
func TestWorkload(t *testing.T) {
	var mu sync.Mutex
	ordered := map[string]int{}
	var keys []string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == chaos.DefaultRoutes.Products:
			_, _ = io.WriteString(w, `{"items":[{"id":"a","stock":5},{"id":"b","stock":50},{"id":"c","stock":0},{"id":"d","stock":7}]}`)
		case r.Method == http.MethodPost && r.URL.Path == chaos.DefaultRoutes.Orders:
			var body struct {
				Items []struct {
					ProductID string `json:"product_id"`
				} `json:"items"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			ordered[body.Items[0].ProductID]++
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"o1","status":"confirmed"}`)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(gw.Close)
	ctx := context.Background()

	for _, tt := range []struct {
		spread bool
		want   map[string]int
	}{
		{false, map[string]int{"b": 6}},
		{true, map[string]int{"a": 2, "b": 2, "d": 2}},
	} {
		clear(ordered)
		keys = nil
		rec := &history.Recorder{}
		n := 0
		w := &chaos.Workload{Gateway: gw.URL + "/", Token: "tok", Spread: tt.spread, Recorder: rec,
			Key: func() string { n++; return "k" + strings.Repeat("x", n) }}
		if err := w.Setup(ctx, gw.Client(), false); err != nil {
			t.Fatal(err)
		}
		calls, err := w.Calls([]chaos.MixEntry{{Call: chaos.CallCreateOrder, Weight: 1}})
		if err != nil {
			t.Fatal(err)
		}
		for range 6 {
			req, err := calls[0].Build(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if status, err := calls[0].Do(ctx, gw.Client(), req); err != nil || status != http.StatusCreated {
				t.Fatalf("create_order: %d %v", status, err)
			}
		}
		if len(ordered) != len(tt.want) || len(rec.Ops()) != 6 || keys[0] != "kx" || keys[5] != "kxxxxxx" {
			t.Errorf("spread %v: ordered %v, want %v; %d ops recorded, keys %v", tt.spread, ordered, tt.want, len(rec.Ops()), keys)
		}
		for id, c := range tt.want {
			if ordered[id] != c {
				t.Errorf("spread %v: ordered %v, want %v", tt.spread, ordered, tt.want)
			}
		}
	}

	w := &chaos.Workload{Gateway: gw.URL, Token: "tok"}
	for _, m := range []chaos.MixEntry{{Call: "dance", Weight: 1}, {Call: chaos.CallLogin, Weight: 1}} {
		if _, err := w.Calls([]chaos.MixEntry{m}); !errors.Is(err, chaos.ErrScenario) {
			t.Errorf("%s: err %v, want ErrScenario", m.Call, err)
		}
	}
}
