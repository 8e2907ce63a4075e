package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/walkthrough"
)

// TestReadmeWalkthrough runs the README's curl walk-through verbatim with
// bash against an in-process lab, the gateway's address being the only
// change, and checks what its comments promise.
func TestReadmeWalkthrough(t *testing.T) {
	for _, tool := range walkthrough.Tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: the walk-through needs %s: %v", tool, err)
		}
	}
	l := startTestLab(t)
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
	if t.Failed() {
		t.Logf("walk-through output:\n%s", out)
	}
}
