package crash

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/services/order"
	"github.com/faultlab/faultlab/services/payment"
)

// dumpUnsettled logs, for a failed run, every order that is not final
// (pending or interrupted) with its events and lease, every charge still
// processing, and the lines of the services' logs that name them: what
// the history check reports as charge-in-flight or pending-after-
// quiescence, with what led there.
func dumpUnsettled(t *testing.T, ctx context.Context, hc *http.Client, s *shop) {
	t.Helper()
	ids := map[string]bool{}
	hs, err := order.NewClient(s.urls["order"], hc, serviceKey).History(ctx)
	if err != nil {
		t.Logf("dump: order history: %v", err)
	}
	for _, h := range hs {
		if h.Status == order.StatusConfirmed || h.Status == order.StatusFailed {
			continue
		}
		ids[h.ID] = true
		t.Logf("unsettled order %s: status %s reason %q attempt %d version %d payment %q total %d %s, created %s updated %s",
			h.ID, h.Status, h.Reason, h.Attempt, h.Version, h.PaymentID, h.TotalCents, h.Currency,
			h.CreatedAt.Format("15:04:05.000"), h.UpdatedAt.Format("15:04:05.000"))
		for _, e := range h.Events {
			t.Logf("  event %d %s: %q ──► %s (attempt %d, version %d) by %s trace %s",
				e.Seq, e.At.Format("15:04:05.000"), e.From, e.To, e.Attempt, e.Version, e.Actor, e.TraceID)
		}
	}
	ps, err := payment.NewClient(s.urls["payment"], hc, serviceKey).Charges(ctx)
	if err != nil {
		t.Logf("dump: charges: %v", err)
	}
	for _, p := range ps {
		if p.Status == payment.StatusProcessing || ids[p.OrderID] {
			ids[p.OrderID] = true
			t.Logf("charge %s of order %s: %s, %d %s, created %s updated %s",
				p.ID, p.OrderID, p.Status, p.AmountCents, p.Currency,
				p.CreatedAt.Format("15:04:05.000"), p.UpdatedAt.Format("15:04:05.000"))
		}
	}
	for _, name := range []string{"order", "payment"} {
		b, _ := os.ReadFile(filepath.Join(s.dir, "logs", name+".log"))
		for line := range strings.SplitSeq(string(b), "\n") {
			for id := range ids {
				if strings.Contains(line, id) {
					t.Logf("%s.log: %s", name, line)
					break
				}
			}
		}
	}
}
