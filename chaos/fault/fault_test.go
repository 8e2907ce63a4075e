package fault_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/syncbuf"
	"github.com/faultlab/faultlab/observability"
)

const key = "test-service-key"

type rig struct {
	in   *fault.Injector
	url  string
	logs *syncbuf.Buffer
	cli  *fault.Client
}

// newRig serves a service whose handler answers "hello world" behind the
// injector, with the control API mounted behind the service key.
func newRig(t testing.TB, cfg fault.Config) *rig {
	t.Helper()
	logs := &syncbuf.Buffer{}
	cfg.Logger = observability.NewLogger(observability.LogOptions{Service: "test", Writer: logs})
	in := fault.New(cfg)
	mux := http.NewServeMux()
	mux.Handle(fault.Path, auth.RequireService(key)(in.Handler()))
	mux.Handle(fault.Path+"/", auth.RequireService(key)(in.Handler()))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello world")
	})
	srv := httptest.NewServer(in.Middleware(mux))
	t.Cleanup(srv.Close)
	return &rig{in: in, url: srv.URL, logs: logs, cli: &fault.Client{BaseURL: srv.URL, ServiceKey: key}}
}

func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestStatusFault(t *testing.T) {
	r := newRig(t, fault.Config{})
	if err := r.cli.Set(context.Background(), fault.Fault{Name: "boom", Kind: fault.KindStatus, Status: 503, RetryAfter: 2, PathPrefix: "/api"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path       string
		wantStatus int
	}{
		{"/api/things", 503},
		{"/other", 200},
		{"/healthz", 200},
		{"/metrics", 200},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, r.url+tt.path)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != 503 {
				return
			}
			if got := resp.Header.Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After %q, want 2", got)
			}
			if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.Contains(body, `injected fault \"boom\"`) {
				t.Errorf("body %s", body)
			}
		})
	}
	if !strings.Contains(r.logs.String(), `"event.action":"fault.injected"`) || !strings.Contains(r.logs.String(), `"labels.fault":"boom"`) {
		t.Errorf("no fault.injected log line: %s", r.logs.String())
	}
	// The control API itself is never faulted, even by a catch-all fault.
	if err := r.cli.Set(context.Background(), fault.Fault{Name: "all", Kind: fault.KindStatus, Status: 500}); err != nil {
		t.Fatal(err)
	}
	if fs, err := r.cli.List(context.Background()); err != nil || len(fs) != 2 {
		t.Fatalf("list: %v %v", fs, err)
	}
}

func TestProbability(t *testing.T) {
	// Alternating rand: 0.25 < 0.5 fires, 0.75 does not.
	var mu sync.Mutex
	n := 0
	rnd := func() float64 {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n%2 == 1 {
			return 0.25
		}
		return 0.75
	}
	r := newRig(t, fault.Config{Rand: rnd})
	if err := r.in.Set(fault.Fault{Name: "half", Kind: fault.KindStatus, Status: 500, Probability: 0.5}); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 6 {
		resp, _ := get(t, r.url+"/x")
		got = append(got, resp.StatusCode)
	}
	want := []int{500, 200, 500, 200, 500, 200}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
}

// fakeAfter fires at once and records what it was asked to wait.
type fakeAfter struct {
	mu    sync.Mutex
	waits []time.Duration
	block bool
}

func (f *fakeAfter) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, d)
	ch := make(chan time.Time, 1)
	if !f.block {
		ch <- time.Time{}
	}
	return ch
}

func (f *fakeAfter) total() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t time.Duration
	for _, w := range f.waits {
		t += w
	}
	return t
}

func TestDelayAndSlowBody(t *testing.T) {
	tests := []struct {
		name      string
		fault     fault.Fault
		wantWaits time.Duration
	}{
		{"delay", fault.Fault{Name: "d", Kind: fault.KindDelay, Delay: 1500 * time.Millisecond}, 1500 * time.Millisecond},
		// 11 bytes at 10 B/s: chunks of 1 byte, 100ms each.
		{"slow_body", fault.Fault{Name: "s", Kind: fault.KindSlowBody, BytesPerSecond: 10}, 1100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fa := &fakeAfter{}
			r := newRig(t, fault.Config{After: fa.After})
			if err := r.in.Set(tt.fault); err != nil {
				t.Fatal(err)
			}
			resp, body := get(t, r.url+"/x")
			if resp.StatusCode != 200 || body != "hello world" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if got := fa.total(); got != tt.wantWaits {
				t.Fatalf("waited %v, want %v", got, tt.wantWaits)
			}
		})
	}
}

func TestDelayHonoursCancellation(t *testing.T) {
	fa := &fakeAfter{block: true} // the delay never ends by itself
	in := fault.New(fault.Config{After: fa.After})
	if err := in.Set(fault.Fault{Name: "d", Kind: fault.KindDelay, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	returned := make(chan struct{})
	called := false
	h := in.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx))
		close(returned)
	}()
	cancel()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("middleware did not return after cancellation")
	}
	if called {
		t.Fatal("handler ran after the caller went away")
	}
}

func TestControlAPI(t *testing.T) {
	r := newRig(t, fault.Config{})
	post := func(t *testing.T, body, ct, key string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, r.url+fault.Path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if key != "" {
			req.Header.Set(auth.ServiceKeyHeader, key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		name, body, ct, key string
		want                int
	}{
		{"ok", `{"name":"a","kind":"delay","delay":"10ms"}`, "application/json", key, 201},
		{"no key", `{"name":"a","kind":"delay","delay":"10ms"}`, "application/json", "", 401},
		{"wrong type", `{}`, "text/plain", key, 415},
		{"malformed", `{"name":`, "application/json", key, 400},
		{"unknown field", `{"name":"a","kind":"status","status":500,"x":1}`, "application/json", key, 400},
		{"unknown kind", `{"name":"a","kind":"explode"}`, "application/json", key, 422},
		{"status 200", `{"name":"a","kind":"status","status":200}`, "application/json", key, 422},
		{"probability 0", `{"name":"a","kind":"status","status":500,"probability":0}`, "application/json", key, 422},
		{"probability 2", `{"name":"a","kind":"status","status":500,"probability":2}`, "application/json", key, 422},
		{"bad delay", `{"name":"a","kind":"delay","delay":"soon"}`, "application/json", key, 422},
		{"negative delay", `{"name":"a","kind":"delay","delay":"-1s"}`, "application/json", key, 422},
		{"bad name", `{"name":"a b","kind":"delay","delay":"1s"}`, "application/json", key, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp := post(t, tt.body, tt.ct, tt.key); resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	ctx := context.Background()
	fs, err := r.cli.List(ctx)
	if err != nil || len(fs) != 1 || fs[0].Delay != 10*time.Millisecond || fs[0].Probability != 1 {
		t.Fatalf("list: %+v %v", fs, err)
	}
	if err := r.cli.Remove(ctx, "nope"); !errors.Is(err, fault.ErrNotFound) {
		t.Fatalf("remove unknown: %v", err)
	}
	if err := r.cli.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	_ = r.in.Set(fault.Fault{Name: "b", Kind: fault.KindStatus, Status: 429})
	if err := r.cli.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if fs := r.in.List(); len(fs) != 0 {
		t.Fatalf("after clear: %+v", fs)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	f := fault.Fault{Name: "x", Kind: fault.KindDelay, Delay: 250 * time.Millisecond, Probability: 0.3, PathPrefix: "/a"}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"delay":"250ms"`) {
		t.Fatalf("json %s", b)
	}
	var g fault.Fault
	if err := json.Unmarshal(b, &g); err != nil || g != f {
		t.Fatalf("round trip %+v %v", g, err)
	}
}
