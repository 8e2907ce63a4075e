package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/faultlab/faultlab/resilience/clocktest"
)

func TestMayHaveReached(t *testing.T) {
	closed := newUpstream(t, status(200))
	closed.Close() // connection refused from now on
	hang := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	unavailable := newUpstream(t, status(http.StatusServiceUnavailable))
	auto := clocktest.NewAuto(clocktest.Epoch)
	tests := []struct {
		name string
		cfg  Config
		url  string
		want bool
	}{
		{"connection refused", Config{Clock: auto}, closed.URL, false},
		{"answered 503", Config{Clock: auto}, unavailable.URL, false},
		{"timed out in flight", Config{Policy: Policy{MaxAttempts: 1, AttemptTimeout: 50 * time.Millisecond}}, hang.URL, true},
		{"retried after a timeout, then refused", Config{Clock: auto, Policy: Policy{MaxAttempts: 2, AttemptTimeout: 50 * time.Millisecond},
			Endpoints: []string{hang.URL, closed.URL}, Rand: zero}, replicaURL, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.cfg)
			_, err := r.get(t, tt.url)
			if err == nil {
				t.Fatal("call succeeded")
			}
			if got := MayHaveReached(err); got != tt.want {
				t.Fatalf("MayHaveReached(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
	t.Run("open breaker", func(t *testing.T) {
		r := newRig(t, Config{Clock: auto, Policy: Policy{MaxAttempts: 1, BreakerMinRequests: 1}})
		_, _ = r.get(t, unavailable.URL)
		_, err := r.get(t, unavailable.URL)
		if !errors.Is(err, ErrOpen) || MayHaveReached(err) {
			t.Fatalf("err %v: want ErrOpen, not reached", err)
		}
	})
	t.Run("caller gone before the call", func(t *testing.T) {
		r := newRig(t, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hang.URL, nil)
		if _, err := r.do(req); err == nil || MayHaveReached(err) {
			t.Fatalf("err %v: want an error, not reached", err)
		}
	})
	if MayHaveReached(nil) {
		t.Error("nil reached")
	}
	if !MayHaveReached(errors.New("decoding the answer")) {
		t.Error("a foreign error must be assumed to have reached")
	}
	if MayHaveReached(fmt.Errorf("another client: %w", &net.OpError{Op: "dial", Err: errors.New("refused")})) {
		t.Error("a foreign dial error cannot have reached")
	}
}

func TestInterrupted(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("reading: %w", context.DeadlineExceeded), true},
		{&net.OpError{Op: "read", Err: errors.New("reset")}, true},
		{errors.New("bad json"), false},
		{nil, false},
	} {
		if got := Interrupted(tt.err); got != tt.want {
			t.Errorf("Interrupted(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
