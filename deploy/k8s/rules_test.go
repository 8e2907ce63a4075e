package k8s

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite base/prometheusrule.yaml from the rule files")

const rulesDir = "../../observability/prometheus/rules"

// The PrometheusRule in the base is the rule files promtool tests, nothing
// more and nothing less.
func TestPrometheusRuleDrift(t *testing.T) {
	got, err := PrometheusRule(rulesDir, "faultlab")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("base", "prometheusrule.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with %s: run go test ./deploy/k8s -run TestPrometheusRuleDrift -update", path, rulesDir)
	}
}

func TestPrometheusRuleRejects(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key":      "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        severity: x\n",
		"record and alert": "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: r\n        expr: up\n",
		"no expr":          "groups:\n  - name: g\n    rules:\n      - alert: A\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := PrometheusRule(dir, "x"); err == nil || !strings.Contains(err.Error(), "r.yml") {
				t.Fatalf("err = %v, want one naming the file", err)
			}
		})
	}
	if _, err := PrometheusRule(t.TempDir(), "x"); err == nil {
		t.Fatal("an empty directory gave no error")
	}
}
