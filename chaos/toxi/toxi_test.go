package toxi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos/toxi"
)

// startLab runs an upstream HTTP server behind one hop of an embedded
// Toxiproxy and returns the server and the hop's URL.
func startLab(t testing.TB) (*toxi.Server, string) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "pong")
	}))
	t.Cleanup(up.Close)
	srv, err := toxi.Start(context.Background(), toxi.Config{APIAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	hops, err := srv.CreateHops([]toxi.Hop{{Name: "a-to-b", Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(up.URL, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(hops[0].Listen, ":0") {
		t.Fatalf("listen address not resolved: %s", hops[0].Listen)
	}
	return srv, "http://" + hops[0].Listen
}

// get makes one request on a fresh connection.
func get(url string) (time.Duration, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && string(b) != "pong" {
		err = errors.New("unexpected body " + string(b))
	}
	return time.Since(start), err
}

func TestFaults(t *testing.T) {
	srv, url := startLab(t)
	ctx := context.Background()
	if _, err := get(url); err != nil {
		t.Fatalf("healthy hop: %v", err)
	}
	tests := []struct {
		name  string
		toxic toxi.Toxic
		check func(t *testing.T, d time.Duration, err error)
	}{
		{"latency", toxi.Toxic{Hop: "a-to-b", Kind: toxi.Latency, LatencyMs: 300}, func(t *testing.T, d time.Duration, err error) {
			if err != nil || d < 300*time.Millisecond {
				t.Fatalf("got %v, %v; want ≥300ms and no error", d, err)
			}
		}},
		{"down", toxi.Toxic{Hop: "a-to-b", Kind: toxi.Down}, func(t *testing.T, d time.Duration, err error) {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("got %v; want connection refused", err)
			}
		}},
		{"reset_peer", toxi.Toxic{Hop: "a-to-b", Kind: toxi.ResetPeer}, func(t *testing.T, d time.Duration, err error) {
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
				t.Fatalf("got %v; want connection reset", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := toxi.Apply(ctx, srv.Client(), tt.toxic); err != nil {
				t.Fatal(err)
			}
			d, err := get(url)
			tt.check(t, d, err)
			if err := toxi.Remove(ctx, srv.Client(), tt.toxic); err != nil {
				t.Fatal(err)
			}
			d, err = get(url)
			if err != nil || d > 250*time.Millisecond {
				t.Fatalf("after remove: %v, %v; want healthy", d, err)
			}
		})
	}
}

func TestReset(t *testing.T) {
	srv, url := startLab(t)
	ctx := context.Background()
	for _, tx := range []toxi.Toxic{
		{Hop: "a-to-b", Kind: toxi.Latency, LatencyMs: 1000},
		{Hop: "a-to-b", Kind: toxi.Down},
	} {
		if err := toxi.Apply(ctx, srv.Client(), tx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := get(url); err == nil {
		t.Fatal("want an error while the hop is down")
	}
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := get(url); err != nil || d > 500*time.Millisecond {
		t.Fatalf("after reset: %v, %v", d, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		toxic toxi.Toxic
		want  string // "" = valid
	}{
		{"latency ok", toxi.Toxic{Hop: "h", Kind: toxi.Latency, LatencyMs: 10}, ""},
		{"no hop", toxi.Toxic{Kind: toxi.Down}, "hop is required"},
		{"no kind", toxi.Toxic{Hop: "h"}, "kind is required"},
		{"unknown kind", toxi.Toxic{Hop: "h", Kind: "boom"}, "unknown kind"},
		{"latency zero", toxi.Toxic{Hop: "h", Kind: toxi.Latency}, "latency_ms > 0"},
		{"negative", toxi.Toxic{Hop: "h", Kind: toxi.Timeout, TimeoutMs: -1}, "must not be negative"},
		{"toxicity", toxi.Toxic{Hop: "h", Kind: toxi.ResetPeer, Toxicity: 1.5}, "toxicity"},
		{"stream", toxi.Toxic{Hop: "h", Kind: toxi.ResetPeer, Stream: "sideways"}, "stream"},
		{"slicer", toxi.Toxic{Hop: "h", Kind: toxi.Slicer, AverageSize: 10, SizeVariation: 10}, "size_variation"},
		{"bandwidth", toxi.Toxic{Hop: "h", Kind: toxi.Bandwidth}, "rate_kbps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.toxic.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, toxi.ErrToxic) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want ErrToxic containing %q", err, tt.want)
			}
		})
	}
}

func TestToxicJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    toxi.Toxic
		wantErr string
	}{
		{`{"hop":"h","kind":"latency","latency_ms":5}`, toxi.Toxic{Hop: "h", Kind: toxi.Latency, LatencyMs: 5}, ""},
		{`{"hop":"h","kind":"reset_peer","toxicity":0.5}`, toxi.Toxic{Hop: "h", Kind: toxi.ResetPeer, Toxicity: 0.5}, ""},
		{`{"hop":"h","kind":"reset_peer","toxicity":0}`, toxi.Toxic{}, "toxicity must be in (0, 1]"},
		{`{"hop":"h","kind":"down","colour":"red"}`, toxi.Toxic{}, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got toxi.Toxic
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v; want error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
