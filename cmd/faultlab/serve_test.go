package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/syncbuf"
	"github.com/faultlab/faultlab/topology"
)

func TestServeUpstreamURLErrors(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"ftp://x:1", "want an http:// or https:// base URL"},
		{"http://a:1,", "empty base URL"},
		{"http://a:1,http://", "no host"},
		{"http://a:1/?x=1", "no query"},
		{"dns+tasks.payment:8084", "want a base URL such as"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			args := []string{"serve", "order", "--gateway-key", "g", "--service-key", "s", "--data-dir", t.TempDir(), "--payment-url", tc.value}
			var out, errb strings.Builder
			err := run(context.Background(), args, &out, &errb, noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--payment-url") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line naming --payment-url and containing %q", err, tc.want)
			}
		})
	}
}

// replica is an upstream replica that counts the requests it serves.
func replica(t *testing.T, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	t.Cleanup(s.Close)
	return s
}

// serveGateway runs `faultlab serve gateway` with the given product URL
// and returns its base URL.
func serveGateway(t *testing.T, productURL string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, errb syncbuf.Buffer
	args := []string{"serve", topology.Gateway, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--gateway-key", "g", "--service-key", "s", "--product-url", productURL}
	go func() { done <- run(ctx, args, &out, &errb, noEnv) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	re := regexp.MustCompile(`listening on (http://\S+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", errb.String())
	return ""
}

func getProducts(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + topology.RouteProducts)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", topology.RouteProducts, resp.StatusCode)
	}
}

func TestServeBalancesOverListedReplicas(t *testing.T) {
	var a, b atomic.Int64
	gw := serveGateway(t, replica(t, &a).URL+", "+replica(t, &b).URL)
	for range 40 {
		getProducts(t, gw)
	}
	if a.Load() == 0 || b.Load() == 0 || a.Load()+b.Load() < 40 {
		t.Fatalf("replica hits %d and %d over 40 requests: want both served", a.Load(), b.Load())
	}
}

func TestServeResolvesReplicasThroughDNS(t *testing.T) {
	var hits atomic.Int64
	s := replica(t, &hits)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	// localhost resolves to 127.0.0.1 (and maybe ::1, where nothing
	// listens: the client ejects it and retries on the other address).
	gw := serveGateway(t, "dns+http://localhost:"+port)
	for range 5 {
		getProducts(t, gw)
	}
	if hits.Load() < 5 {
		t.Fatalf("the resolved replica served %d of 5 requests", hits.Load())
	}
}
