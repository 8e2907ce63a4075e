package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultlab/faultlab/api/apitest"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/contract"
	"github.com/faultlab/faultlab/internal/hop"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/resilience"
)

// edgeLab is a gateway wired as `faultlab up` wires it (resilience client
// from hop.New, deadline middleware in Wrap) in front of an order stub
// that records the headers it received. Order, because the gateway gives
// it the longest per-attempt budget (6 s).
type edgeLab struct {
	url  string
	mu   sync.Mutex
	seen http.Header
	hold bool // the stub waits for its request's context to end
	api  *apitest.Validator
}

func newEdgeLab(t *testing.T, hold bool) *edgeLab {
	t.Helper()
	l := &edgeLab{hold: hold}
	order := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice a caller that hangs up
		l.mu.Lock()
		l.seen = r.Header.Clone()
		l.mu.Unlock()
		if l.hold {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[],"limit":20,"total":0}`)
	}))
	t.Cleanup(order.Close)
	tr, err := hop.New("gateway", "order", hop.ScenarioPolicy, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := New(Config{Base: kit.Base{Keys: auth.Keys{Gateway: kittest.Keys.Gateway}, Wrap: resilience.Deadline(30 * time.Second)},
		OrderURL: order.URL, OrderClient: tr.Client()})
	if err != nil {
		t.Fatal(err)
	}
	l.api = apitest.New(t)
	l.url = kittest.Serve(t, l.api.Middleware(gw)).URL
	return l
}

func (l *edgeLab) header() http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen
}

func budget(t testing.TB, h http.Header) time.Duration {
	t.Helper()
	ms, err := strconv.Atoi(h.Get(contract.RequestBudget))
	if err != nil {
		t.Fatalf("upstream got %s %q", contract.RequestBudget, h.Get(contract.RequestBudget))
	}
	return time.Duration(ms) * time.Millisecond
}

// TestClientCannotSetInternalHeaders (issue 17): every header of
// contract.Internal that a client sends is dropped at the edge; upstream
// sees only the values the gateway sets itself. Before, a client's
// X-Request-Budget-Ms of 1 ms was honoured, and healthy services were
// blamed for the 503s that followed.
func TestClientCannotSetInternalHeaders(t *testing.T) {
	l := newEdgeLab(t, false)
	var hdr []string
	for _, name := range contract.Internal {
		v := "client-set"
		if name == contract.RequestBudget {
			v = "1"
		}
		hdr = append(hdr, name, v)
	}
	r := kittest.Call(t, http.MethodGet, l.url+"/api/v1/orders", nil, hdr...)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	got := l.header()
	for _, name := range contract.Internal {
		for _, v := range got.Values(name) {
			if v == "client-set" {
				t.Errorf("%s reached the upstream as the client set it", name)
			}
		}
	}
	if got.Get(contract.GatewayKey) != kittest.Keys.Gateway {
		t.Error("upstream did not get the gateway's own key")
	}
	if ff := got.Values(contract.ForwardedFor); len(ff) != 1 || ff[0] != "127.0.0.1" {
		t.Errorf("%s = %q, want the address the gateway saw", contract.ForwardedFor, ff)
	}
	if b := budget(t, got); b < time.Second {
		t.Errorf("budget %v: the client's 1 ms was honoured", b)
	}
}

// TestRequestTimeout: a client may ask for a shorter deadline with
// Request-Timeout (seconds), never below MinRequestTimeout; a malformed
// value is a 400; a deadline the client chose that runs out is a 504 that
// says so, not a 503 blaming the upstream.
func TestRequestTimeout(t *testing.T) {
	tests := []struct {
		value    string
		min, max time.Duration
	}{
		{"2", time.Second, 2 * time.Second},
		{"0.5", 200 * time.Millisecond, 500 * time.Millisecond},
		{"0.001", 20 * time.Millisecond, DefaultMinRequestTimeout}, // raised to the floor
		{"0", 20 * time.Millisecond, DefaultMinRequestTimeout},
	}
	l := newEdgeLab(t, false)
	// Every answer, the 400s and the 504 included, is checked against the
	// API document.
	defer l.api.Report(t)
	const bearer = "Bearer not-checked-by-the-stub"
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			r := kittest.Call(t, http.MethodGet, l.url+"/api/v1/orders", nil, contract.RequestTimeout, tt.value, "Authorization", bearer)
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if b := budget(t, l.header()); b < tt.min || b > tt.max {
				t.Fatalf("budget %v, want in [%v, %v]", b, tt.min, tt.max)
			}
		})
	}
	for _, bad := range []string{"abc", "-1", "1e3", "1.2345", "0x10", ".5", "1."} {
		t.Run("bad "+bad, func(t *testing.T) {
			r := kittest.Call(t, http.MethodGet, l.url+"/api/v1/orders", nil, contract.RequestTimeout, bad, "Authorization", bearer)
			if r.Status != http.StatusBadRequest || r.Header.Get("Content-Type") != problem.ContentType {
				t.Fatalf("got %d %q: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
			}
		})
	}
	t.Run("runs out", func(t *testing.T) {
		slow := newEdgeLab(t, true)
		defer slow.api.Report(t)
		r := kittest.Call(t, http.MethodGet, slow.url+"/api/v1/orders", nil, contract.RequestTimeout, "0.1", "Authorization", bearer)
		if r.Status != http.StatusGatewayTimeout || r.Header.Get("Content-Type") != problem.ContentType {
			t.Fatalf("got %d: %s", r.Status, r.Body)
		}
	})
}

// TestLimitAndShedPassThrough (issue 17): user's 429 and its shed 503
// reach the client as they were sent (status, Retry-After, problem detail
// on the public path), and twenty of them leave the gateway's breaker on
// user closed. The internal X-Load-Shed stays inside.
func TestLimitAndShedPassThrough(t *testing.T) {
	tests := []struct {
		name   string
		status int
		shed   bool
		detail string
	}{
		{"429", http.StatusTooManyRequests, false, "too many failed logins; try again later"},
		{"shed 503", http.StatusServiceUnavailable, true, "login is busy; try again shortly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			userStub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if tt.shed {
					w.Header().Set(contract.LoadShed, "login")
				}
				w.Header().Set("Retry-After", "7")
				w.Header().Set("Content-Type", problem.ContentType)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"title":"x","status":`+strconv.Itoa(tt.status)+`,"detail":"`+tt.detail+`","instance":"/users/api/login"}`)
			}))
			t.Cleanup(userStub.Close)
			tr, err := hop.New("gateway", "user", hop.ScenarioPolicy, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			gw, err := New(Config{Base: kit.Base{Keys: auth.Keys{Gateway: kittest.Keys.Gateway}}, UserURL: userStub.URL, UserClient: tr.Client()})
			if err != nil {
				t.Fatal(err)
			}
			url := kittest.Serve(t, gw).URL
			for range 20 {
				r := kittest.Call(t, http.MethodPost, url+"/api/v1/login", map[string]string{"email": "a@example.com", "password": "x"})
				if r.Status != tt.status || r.Header.Get("Retry-After") != "7" || r.Header.Get("Content-Type") != problem.ContentType {
					t.Fatalf("got %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Body)
				}
				if !strings.Contains(string(r.Body), tt.detail) || !strings.Contains(string(r.Body), `"instance":"/api/v1/login"`) {
					t.Fatalf("body %s", r.Body)
				}
				if r.Header.Get(contract.LoadShed) != "" {
					t.Fatal("X-Load-Shed leaked to the client")
				}
			}
			if st := tr.State(); st != "closed" {
				t.Fatalf("breaker on user %s", st)
			}
		})
	}
}
