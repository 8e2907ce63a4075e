package resilience

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkLoopbackGET compares a keep-alive GET through the whole stack
// with the same GET through a bare client, against one httptest server.
//
//	go test -bench . -benchmem -run '^$' ./resilience/...
func BenchmarkLoopbackGET(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()

	bareBase := NewBaseTransport(DefaultMaxConcurrent)
	defer bareBase.CloseIdleConnections()
	stackBase := NewBaseTransport(DefaultMaxConcurrent)
	defer stackBase.CloseIdleConnections()
	stack, err := New(Config{Name: "product", Base: stackBase, Metrics: NewMetrics(nil)})
	if err != nil {
		b.Fatal(err)
	}
	clients := []struct {
		name string
		c    *http.Client
	}{
		{"bare", &http.Client{Transport: bareBase}},
		// A bare client with a timeout pays what any deadline costs in
		// net/http (a cancelable context, its timer and the transport's
		// cancellation watch): the fair floor for a stack that always
		// has one.
		{"bare+timeout", &http.Client{Transport: bareBase, Timeout: 2 * time.Second}},
		{"stack", stack.Client()},
	}
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/products/1", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// cannedRT answers every request at once from memory, so that
// BenchmarkStackOverhead measures the stack and nothing else.
type cannedRT struct{}

func (cannedRT) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: io.NopCloser(http.NoBody), ContentLength: -1, Header: http.Header{}}, nil
}

// BenchmarkStackOverhead isolates the cost of the stack from loopback noise:
// the same in-memory RoundTripper called bare and through the stack, with
// one endpoint (the request's URL), with three (p2c and the outlier
// detector), and with three and hedging on (a GET that answers before the
// hedge delay: the hedged path without a hedge sent).
func BenchmarkStackOverhead(b *testing.B) {
	three := []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"}
	stacks := []struct {
		name string
		cfg  Config
	}{
		{"stack", Config{}},
		{"stack+endpoints", Config{Endpoints: three}},
		{"stack+endpoints+hedge", Config{Endpoints: three, Policy: Policy{HedgeDelay: time.Second}}},
	}
	rts := []struct {
		name string
		rt   http.RoundTripper
	}{{"bare", cannedRT{}}}
	for _, s := range stacks {
		s.cfg.Name, s.cfg.Base, s.cfg.Metrics = "product", cannedRT{}, NewMetrics(nil)
		stack, err := New(s.cfg)
		if err != nil {
			b.Fatal(err)
		}
		rts = append(rts, struct {
			name string
			rt   http.RoundTripper
		}{s.name, stack})
	}
	for _, c := range rts {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/products/1", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}
