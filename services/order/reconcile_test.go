package order

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/resilience"
)

// countingRoundTripper counts the calls order makes to its payment client.
type countingRoundTripper struct {
	next  http.RoundTripper
	calls atomic.Int64
}

func (c *countingRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.next.RoundTrip(r)
}

// TestReconcileStopsAtOpenBreaker: with payment down, a reconciler pass
// stops at the first call payment's breaker refuses, instead of having
// each of its pending orders refused in turn; the orders stay pending.
func TestReconcileStopsAtOpenBreaker(t *testing.T) {
	f := newFixture(t, t.TempDir())
	tr, err := resilience.New(resilience.Config{Name: "payment", Policy: resilience.Policy{
		MaxAttempts: 1, BreakerMinRequests: 3, BreakerFailureRatio: 0.5, BreakerOpenTimeout: time.Hour, BreakerWindow: time.Hour,
	}})
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingRoundTripper{next: tr}
	f.cfg.PaymentClient = &http.Client{Transport: counted}
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	const orders = 12
	for i := range orders {
		f.crashed(t, "stuck-"+string(rune('a'+i)), true, false)
	}
	f.clock.Advance(DefaultLeaseTTL + time.Millisecond)
	f.payDown.down.Store(true)

	n, err := f.svc.Reconcile(context.Background())
	if n != 0 || !errors.Is(err, resilience.ErrOpen) || !strings.Contains(err.Error(), "wait for the next pass") {
		t.Fatalf("reconcile with payment down: %d settled, err %v; want none, stopped at the open breaker", n, err)
	}
	// Each order makes two calls (the charge, then the lookup of a charge
	// that may have landed): three 503s open the breaker, and the third
	// order, whose charge it refuses, ends the pass. Without the stop,
	// every order would make both calls.
	if c := counted.calls.Load(); c > 6 {
		t.Errorf("%d calls to payment's client for %d pending orders, want at most 6", c, orders)
	}
	if !errors.Is(err, kit.ErrPending) {
		t.Errorf("err %v: want the blocked order's ErrPending too", err)
	}
	ids, err := f.svc.store.Pending(context.Background())
	if err != nil || len(ids) != orders {
		t.Fatalf("pending after the pass: %d %v, want all %d", len(ids), err, orders)
	}
}
