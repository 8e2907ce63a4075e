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
// the same in-memory RoundTripper called bare and through the stack.
func BenchmarkStackOverhead(b *testing.B) {
	stack, err := New(Config{Name: "product", Base: cannedRT{}, Metrics: NewMetrics(nil)})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{{"bare", cannedRT{}}, {"stack", stack}} {
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
