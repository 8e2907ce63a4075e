package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/services/user"
)

// smallPaymentDown is payment-down cut short for CI: payment's hop down for
// 1.5s of a 4s load.
const smallPaymentDown = `name: small-payment-down
description: order-to-payment down for 1.5s; order's payment breaker opens and closes.
faults:
  - name: payment down
    at: 1s
    until: 2500ms
    fault: {kind: toxic, hop: order-to-payment, toxic: {kind: down}}
load:
  rate: 30
  duration: 4s
  mix:
    - {call: list_products, weight: 1}
    - {call: create_order, weight: 2}
hypothesis:
  - {kind: success_rate, phase: before, min: 0.99}
  - {kind: breaker_opens, service: order, upstream: payment, within: 2s}
  - {kind: success_rate, phase: during, call: list_products, min: 0.99}
`

// TestChaosCompare runs a small comparison in-process: the default policy
// against order's payment breaker turned off.
func TestChaosCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("two 5 s runs, each on its own lab")
	}
	compareArgon2 = &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
	t.Cleanup(func() { compareArgon2 = nil })
	file := writeTemp(t, "small.yaml", smallPaymentDown)
	out := t.TempDir()
	stdout, stderr, err := runCmd(t, "chaos", "compare", file, "--variant", "payment:breaker=off", "--out", out, "--steady", "500ms")
	t.Logf("stdout:\n%s", stdout)
	if err != nil {
		t.Fatalf("compare: %v\nstderr:\n%s", err, stderr)
	}
	var def, off string
	for l := range strings.Lines(stdout) {
		switch {
		case strings.HasPrefix(l, "default "):
			def = l
		case strings.HasPrefix(l, "payment:breaker=off "):
			off = l
		}
	}
	// The breaker opens (detected) by default, never with it off.
	if def == "" || off == "" || strings.Fields(def)[5] == "never" || strings.Fields(off)[5] != "never" {
		t.Errorf("want a time to detect by default and none with the breaker off:\n%s", stdout)
	}
	mds, _ := filepath.Glob(filepath.Join(out, "small-payment-down-compare-*.md"))
	htmls, _ := filepath.Glob(filepath.Join(out, "small-payment-down-compare-*.html"))
	if len(mds) != 1 || len(htmls) != 1 {
		t.Fatalf("reports %v %v", mds, htmls)
	}
	md, _ := os.ReadFile(mds[0])
	for _, want := range []string{"| metric | better | default | payment:breaker=off |", "| time to detect | lower |", "| retry amplification |", "## Verdicts"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	page, _ := os.ReadFile(htmls[0])
	if n := strings.Count(string(page), `<svg class="chart"`); n != 6 {
		t.Errorf("%d charts in the HTML report, want one per metric (6)", n)
	}
	for _, bad := range [][]string{
		{"chaos", "compare", file},
		{"chaos", "compare", file, "--variant", "nowhere:breaker=off"},
		{"chaos", "compare", file, "--variant", "payment:breaker=maybe"},
		{"chaos", "compare", "no-such-scenario", "--variant", "payment:breaker=off"},
	} {
		if _, _, err := runCmd(t, bad...); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want a one-line error", bad, err)
		}
	}
}
