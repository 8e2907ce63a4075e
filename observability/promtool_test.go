package observability_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/faultlab/faultlab/observability/logstore/logstoretest"
)

const (
	rulesDir = "prometheus/rules"
	testsDir = "prometheus/tests"
)

// promtool runs promtool with args in dir and returns its combined output
// and whether it succeeded.
func promtool(tb testing.TB, dir string, args ...string) (string, bool) {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), logstoretest.Tool(tb, "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			tb.Fatalf("run promtool: %v", err)
		}
	}
	return string(out), err == nil
}

func globFiles(tb testing.TB, pattern string) []string {
	tb.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		tb.Fatalf("no files match %s (%v)", pattern, err)
	}
	return files
}

func TestPromtoolCheckRules(t *testing.T) {
	out, ok := promtool(t, ".", append([]string{"check", "rules"}, globFiles(t, rulesDir+"/*.yml")...)...)
	if !ok {
		t.Fatalf("promtool check rules failed:\n%s", out)
	}
}

func TestPromtoolCheckConfig(t *testing.T) {
	rules, err := filepath.Abs(rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		// fix rewrites container paths to this checkout's.
		fix map[string]string
	}{
		{"compose", "prometheus/prometheus.yml", map[string]string{"/etc/prometheus/rules/": rules + "/"}},
		{"local", "prometheus/prometheus.local.yml", map[string]string{"rules/*.yml": rules + "/*.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			for from, to := range tt.fix {
				if !strings.Contains(s, from) {
					t.Fatalf("%s no longer contains %q: update the test's path fix", tt.file, from)
				}
				s = strings.ReplaceAll(s, from, to)
			}
			cfg := filepath.Join(t.TempDir(), "prometheus.yml")
			if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			out, ok := promtool(t, ".", "check", "config", cfg)
			if !ok {
				t.Fatalf("promtool check config failed:\n%s", out)
			}
			// The config must really load the rules, not match nothing.
			if !strings.Contains(out, "rules found") || strings.Contains(out, " 0 rule files found") {
				t.Errorf("%s loads no rules:\n%s", tt.file, out)
			}
		})
	}
}

func TestPromtoolTestRules(t *testing.T) {
	out, ok := promtool(t, ".", append([]string{"test", "rules"}, globFiles(t, testsDir+"/*.yml")...)...)
	if !ok {
		t.Fatalf("promtool test rules failed:\n%s", out)
	}
}

// TestPromtoolTestsCatchBrokenRules breaks one rule at a time in a copy and
// checks that the promtool tests notice.
func TestPromtoolTestsCatchBrokenRules(t *testing.T) {
	tests := []struct{ name, from, to string }{
		{"page burn threshold", "14.4 * (1 - 0.999)", "144 * (1 - 0.999)"},
		{"ticket burn threshold", "6 * (1 - 0.999)", "60 * (1 - 0.999)"},
		{"short window too long", "[25s]", "[5m]"},
		{"4xx counted as errors", `code=~"5.."`, `code=~"[45].."`},
		{"ServiceDown waits too long", "for: 30s", "for: 5m"},
		{"breaker state", `max by (job, name) (faultlab_circuitbreaker_state{state="open"})`, `max by (job, name) (faultlab_circuitbreaker_state{state="closed"})`},
		{"breaker flaps on half-open", "keep_firing_for: 30s", "keep_firing_for: 0s"},
		{"latency threshold", ")\n          ) > 1", ")\n          ) > 5"},
		{"retry budget metric name", "faultlab_retry_budget_exhausted_total", "faultlab_retry_budget_exhausted"},
		{"token outcome", `outcome="unavailable"`, `outcome="invalid"`},
		{"token cache results", `result=~"stale_hit|unavailable"`, `result=~"miss"`},
		{"token breaker upstream", `{name="user",state="open"}`, `{name="payment",state="open"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, rulesDir, filepath.Join(dir, rulesDir))
			copyDir(t, testsDir, filepath.Join(dir, testsDir))
			rf := filepath.Join(dir, rulesDir, "faultlab.rules.yml")
			b, err := os.ReadFile(rf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(tt.from)) {
				t.Fatalf("rules no longer contain %q: update the mutation", tt.from)
			}
			if err := os.WriteFile(rf, bytes.ReplaceAll(b, []byte(tt.from), []byte(tt.to)), 0o644); err != nil {
				t.Fatal(err)
			}
			// The broken rules are still valid rules...
			if out, ok := promtool(t, dir, "check", "rules", rf); !ok {
				t.Fatalf("mutation makes invalid rules, so it proves nothing:\n%s", out)
			}
			// ...but the unit tests must fail.
			out, ok := promtool(t, dir, append([]string{"test", "rules"}, globFiles(t, filepath.Join(dir, testsDir, "*.yml"))...)...)
			if ok {
				t.Fatalf("promtool tests still pass with %q -> %q:\n%s", tt.from, tt.to, out)
			}
		})
	}
}

// TestEveryRuleIsTested checks that each alert has a firing and a
// not-firing case, and each recording rule is evaluated, in the promtool
// tests.
func TestEveryRuleIsTested(t *testing.T) {
	type rule struct{ Alert, Record string }
	var all []rule
	for _, f := range globFiles(t, rulesDir+"/*.yml") {
		var rf struct{ Groups []struct{ Rules []rule } }
		readYAML(t, f, &rf)
		for _, g := range rf.Groups {
			all = append(all, g.Rules...)
		}
	}
	firing, quiet, evaluated := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range globFiles(t, testsDir+"/*.yml") {
		var tf struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string
					ExpAlerts []any `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
				PromQLExprTest []struct {
					Expr string
				} `yaml:"promql_expr_test"`
			}
		}
		readYAML(t, f, &tf)
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
			for _, e := range tc.PromQLExprTest {
				evaluated[strings.TrimSpace(e.Expr)] = true
			}
		}
	}
	if len(all) == 0 {
		t.Fatal("no rules parsed")
	}
	for _, r := range all {
		switch {
		case r.Alert != "":
			if !firing[r.Alert] {
				t.Errorf("alert %s has no firing test case", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s has no not-firing test case", r.Alert)
			}
		case !evaluated[r.Record]:
			t.Errorf("recording rule %s is not evaluated in a promql_expr_test", r.Record)
		}
	}
}

func readYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

func copyDir(tb testing.TB, from, to string) {
	tb.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		tb.Fatalf("copy %s: %v", from, err)
	}
}
