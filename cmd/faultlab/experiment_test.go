package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/chaos"
)

// handWritten is an experiment as a user would write one: a short burst of
// 503s from payment.
const handWritten = `name: my-payment-503
description: payment answers 503 for two seconds; order's calls to it fail, browsing does not notice.
faults:
  - name: payment 503
    at: 1s
    until: 3s
    fault:
      kind: http
      service: payment
      http: {name: my-503, kind: status, status: 503}
load:
  rate: 20
  duration: 4s
  mix:
    - {call: list_products, weight: 1}
    - {call: create_order, weight: 1}
hypothesis:
  - {kind: success_rate, phase: before, min: 0.99}
  - {kind: metric_increase, service: order, metric: faultlab_client_attempts_total, labels: {name: payment, outcome: status_5xx}}
  - {kind: success_rate, phase: during, call: list_products, min: 0.99}
`

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChaosValidate(t *testing.T) {
	good := writeTemp(t, "good.yaml", handWritten)
	bad := writeTemp(t, "bad.yaml", strings.Replace(handWritten, "until: 3s", "until: 3", 1))
	out, _, err := runCmd(t, "chaos", "validate", good)
	if err != nil || !strings.Contains(out, good+": ok: my-payment-503, 1 fault(s), 3 check(s), 4s of load") {
		t.Fatalf("validate good: %v\n%s", err, out)
	}
	out, _, err = runCmd(t, "chaos", "validate", good, bad)
	want := bad + `:6:12: faults[0].until: must be a duration like "2s" or "250ms", got 3`
	if !errors.Is(err, errInvalidExperiments) || !strings.Contains(out, want) {
		t.Fatalf("validate bad: %v\n%s\nwant %s", err, out, want)
	}
	// run -f reads the file the same way, before any lab is needed.
	_, _, err = runCmd(t, "chaos", "run", "-f", bad, "--gateway", "http://127.0.0.1:1")
	if err == nil || err.Error() != want {
		t.Fatalf("run -f bad: %v, want %s", err, want)
	}
	_, _, err = runCmd(t, "chaos", "run", "-f", good, "payment-down")
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("run -f and a name: %v", err)
	}
}

func TestChaosSchemaAndShow(t *testing.T) {
	out, _, err := runCmd(t, "chaos", "schema")
	if err != nil || out != string(chaos.Schema()) {
		t.Fatalf("schema: %v", err)
	}
	out, _, err = runCmd(t, "chaos", "show", "payment-down")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := chaos.DecodeExperiment("shown.yaml", []byte(out))
	want, _ := chaos.Lookup("payment-down")
	if err != nil || sc.Name != want.Name || len(sc.Hypothesis) != len(want.Hypothesis) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, _, err := runCmd(t, "chaos", "show", "nope"); err == nil || !strings.Contains(err.Error(), "payment-down") {
		t.Fatalf("show nope: %v", err)
	}
	// Every built-in file validates through the CLI, as a user's copy would.
	var files []string
	for _, name := range chaos.ExperimentFiles() {
		b, _, _ := runCmd(t, "chaos", "show", strings.TrimSuffix(filepath.Base(name), ".yaml"))
		files = append(files, writeTemp(t, filepath.Base(name), b))
	}
	out, _, err = runCmd(t, append([]string{"chaos", "validate"}, files...)...)
	if err != nil || bytes.Count([]byte(out), []byte(": ok: ")) != len(files) {
		t.Fatalf("validate built-ins: %v\n%s", err, out)
	}
}

// The README's example experiment is the one the tests run, and it is valid.
func TestReadmeExperiment(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "### Writing your own experiment")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	text, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("the README has no yaml block under Writing your own experiment")
	}
	got, err := chaos.DecodeExperiment("README.md", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want, err := chaos.DecodeExperiment("handWritten", []byte(handWritten))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the README's experiment differs from the one TestChaosRun runs:\n%+v\n%+v", got, want)
	}
}
