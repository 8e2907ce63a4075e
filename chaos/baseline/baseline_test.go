package baseline_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos/baseline"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/services/user"
)

func TestCompareShort(t *testing.T) {
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Config{Ephemeral: true, DataDir: t.TempDir(), Argon2: &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	tok, err := l.Token(ctx)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	urls := map[string]string{}
	for n, a := range l.Addrs {
		urls[n] = "http://" + a
	}
	cmp, err := baseline.Compare(ctx, baseline.Config{URLs: urls, Keys: l.Keys, Token: tok,
		Closed: time.Second, Open: time.Second, Concurrency: 4, Rate: 100})
	if err != nil {
		t.Fatalf("compare: %v", err)
	}
	for name, r := range map[string]interface {
		SuccessRate() float64
	}{"gateway closed": cmp.GatewayClosed, "baseline closed": cmp.BaselineClosed, "gateway open": cmp.GatewayOpen, "baseline open": cmp.BaselineOpen} {
		if r.SuccessRate() != 1 {
			t.Errorf("%s: success rate %.3f, want 1", name, r.SuccessRate())
		}
	}
	if cmp.GatewayClosed.Total == 0 || cmp.BaselineClosed.Total == 0 || cmp.GatewayOpen.Status[200] == 0 || cmp.BaselineOpen.Status[200] == 0 {
		t.Errorf("a run sent no successful requests: %+v %+v", cmp.GatewayClosed.Status, cmp.BaselineClosed.Status)
	}
	var b bytes.Buffer
	if err := baseline.WriteTable(&b, cmp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "closed c=4") || !strings.Contains(b.String(), "open 100/s") {
		t.Errorf("table lacks its rows:\n%s", b.String())
	}
}

func TestProxyRewritesPathAndAddsKey(t *testing.T) {
	var gotPath, gotKey, gotAuth string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotKey, gotAuth = r.URL.Path, r.Header.Get("X-Gateway-Key"), r.Header.Get("Authorization")
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	h, err := baseline.NewProxy(up.URL, "k1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, baseline.Path, http.StatusOK},
		{http.MethodGet, "/api/v1/orders", http.StatusNotFound},
		{http.MethodPost, baseline.Path, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			gotPath = ""
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("Authorization", "Bearer t")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			if tc.want == http.StatusOK && (gotPath != "/products" || gotKey != "k1" || gotAuth != "Bearer t") {
				t.Errorf("upstream saw path %q key %q auth %q", gotPath, gotKey, gotAuth)
			}
		})
	}
	if _, err := baseline.NewProxy("::bad", "k"); err == nil {
		t.Error("NewProxy accepted a bad URL")
	}
}
