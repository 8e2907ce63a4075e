package main

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/api/apitest"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/internal/walkthrough"
	"github.com/faultlab/faultlab/services/user"
)

// TestReadmeWalkthrough runs the README's curl walk-through verbatim with
// bash against an in-process lab, the gateway's address being the only
// change, and checks what its comments promise. Every request and answer
// through the gateway is also checked against api/openapi.yaml.
func TestReadmeWalkthrough(t *testing.T) {
	for _, tool := range walkthrough.Tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: the walk-through needs %s: %v", tool, err)
		}
	}
	contract := apitest.New(t)
	l, err := lab.Start(context.Background(), lab.Config{Ephemeral: true, DataDir: t.TempDir(),
		Argon2: &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
		Wrap: func(name string, h http.Handler) http.Handler {
			if name != "gateway" {
				return h
			}
			return contract.Middleware(h)
		}})
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	defer contract.Report(t)
	gw := "http://" + l.Addrs["gateway"]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := walkthrough.Run(ctx, "../../README.md", gw, t.TempDir())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, err := range walkthrough.Check(out, gw) {
		t.Error(err)
	}
	for name, addr := range l.Addrs {
		if name != "gateway" && strings.Contains(out, addr) {
			t.Errorf("the output names %s's internal address %s", name, addr)
		}
	}
	seen := contract.Seen()
	for _, want := range []string{"login 200", "listProducts 200", "createOrder 201", "getOrder 200", "listOrders 200", "createOrder 422", "getPayment 200"} {
		if seen[want] == 0 {
			t.Errorf("the contract check saw no %q (saw %s)", want, contract.SeenSummary())
		}
	}
	if t.Failed() {
		t.Logf("walk-through output:\n%s", out)
	}
}
