package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
)

// TestSnapshotSources reads the stores of a lab two ways, through the
// services' read endpoints (paged two at a time) and straight from the
// SQLite files, and wants the same snapshot, one the history check passes.
func TestSnapshotSources(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := labtest.Start(t, lab.Config{DataDir: dir})
	tok := labtest.Token(t, l)
	for i := range 5 {
		placeOrder(t, l, tok, fmt.Sprintf("snapshot-%d", i))
	}
	snap, quiet, err := chaos.Settle(ctx, l, 0)
	if err != nil || !quiet {
		t.Fatalf("settle: quiet %v, err %v", quiet, err)
	}
	viaAPI, err := history.Fetch(ctx, history.Source{OrderURL: l.URL("order"), PaymentURL: l.URL("payment"), ProductURL: l.URL("product"),
		ServiceKey: l.Keys.Service, PageSize: 2, HTTP: l.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := lab.StoreSnapshot(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(viaAPI)
	b, _ := json.Marshal(direct)
	c, _ := json.Marshal(snap)
	if string(a) != string(b) || string(a) != string(c) {
		t.Fatalf("the endpoints and the stores disagree:\nAPI    %s\nstores %s\nlab    %s", a, b, c)
	}
	if len(direct.Orders) != 5 || len(direct.Charges) != 5 || len(direct.Orders[0].Events) == 0 || direct.Orders[0].Version == 0 {
		t.Fatalf("snapshot: %d orders, %d charges, events %v", len(direct.Orders), len(direct.Charges), direct.Orders[0].Events)
	}
	if rep := history.Check(nil, direct); !rep.OK() {
		t.Errorf("a quiet lab after five orders: %s", rep)
	}
}
