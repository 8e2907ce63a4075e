package lab_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
)

// TestRestartKeepsState stops a lab and starts a new one on the same data
// directory: users (login), orders, payments and stock survive.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	l1 := labtest.Start(t, lab.Config{DataDir: dir})
	tok := labtest.Token(t, l1)
	orderID := placeOrder(t, l1, tok, "restart-1")
	charges1, stock1 := totals(t, l1)
	if err := l1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	l2 := labtest.Start(t, lab.Config{DataDir: dir})
	tok2, err := l2.Token(ctx) // the seeded user still logs in
	if err != nil {
		t.Fatalf("login after restart: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, l2.GatewayURL()+"/api/v1/orders/"+orderID, nil)
	req.Header.Set("Authorization", "Bearer "+tok2)
	resp, err := l2.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ ID, Status string }
	_ = json.NewDecoder(resp.Body).Decode(&o)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || o.ID != orderID || o.Status != "confirmed" {
		t.Fatalf("order after restart: status %d, %+v; want 200 with %s confirmed", resp.StatusCode, o, orderID)
	}
	charges2, stock2 := totals(t, l2)
	if charges2 != charges1 {
		t.Errorf("charges after restart = %+v, before %+v", charges2, charges1)
	}
	if stock2 != stock1 {
		t.Errorf("stock after restart = %+v, before %+v", stock2, stock1)
	}
	// The replay of the key after the restart is the same order, not a new charge.
	if again := placeOrder(t, l2, tok2, "restart-1"); again != orderID {
		t.Errorf("replay after restart made order %s, want %s", again, orderID)
	}
	if c, _ := l2.Charges(ctx); c.Total != charges1.Total {
		t.Errorf("replay after restart charged again: %d charges, want %d", c.Total, charges1.Total)
	}
}

// totals reads l's charge and stock summaries.
func totals(t *testing.T, l *lab.Lab) (chaos.ChargeSummary, chaos.StockSummary) {
	t.Helper()
	ctx := context.Background()
	charges, err := l.Charges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stock, err := l.Stock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return charges, stock
}

func placeOrder(t *testing.T, l *lab.Lab, tok, key string) string {
	t.Helper()
	status, id, _ := labtest.Order(t, l, tok, key)
	if status != http.StatusCreated || id == "" {
		t.Fatalf("place order: status %d, id %q", status, id)
	}
	return id
}
