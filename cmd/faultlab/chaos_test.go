package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/services/user"
)

// startTestLab starts an ephemeral lab (never the default ports).
func startTestLab(t *testing.T) *lab.Lab {
	t.Helper()
	// The policy of faultlab up, which these commands run against.
	l, err := lab.Start(context.Background(), lab.Config{Ephemeral: true, DataDir: t.TempDir(), Default: lab.ScenarioPolicy,
		Argon2: &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// labFlagArgs points a command at l instead of the default ports.
func labFlagArgs(l *lab.Lab) []string {
	var args []string
	for _, name := range l.Services() {
		args = append(args, "--"+name, "http://"+l.Addrs[name])
	}
	admin := ""
	if l.AdminAddr != "" {
		admin = "http://" + l.AdminAddr
	}
	return append(args, "--toxiproxy", l.Toxi.URL(), "--service-key", l.Keys.Service, "--logs", l.LogDir, "--admin-url", admin)
}

func noEnv(string) string { return "" }

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb, noEnv)
	return out.String(), errb.String(), err
}

func TestChaosList(t *testing.T) {
	out, _, err := runCmd(t, "chaos", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range chaos.Catalogue() {
		line := ""
		for l := range strings.Lines(out) {
			if strings.HasPrefix(l, sc.Name+" ") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("%s missing from the list:\n%s", sc.Name, out)
			continue
		}
		if got := strings.Contains(line, " short "); got != sc.Short {
			t.Errorf("%s: short shown %v, want %v", sc.Name, got, sc.Short)
		}
	}
}

func TestChaosUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", []string{"chaos"}, "want list"},
		{"bad subcommand", []string{"chaos", "dance"}, `unknown subcommand "dance"`},
		{"unknown scenario", []string{"chaos", "run", "nope"}, "payment-down"},
		{"no scenario", []string{"chaos", "run"}, "which scenario"},
		{"bad flag", []string{"chaos", "run", "payment-down", "--steady", "soon"}, "invalid value"},
		{"soak zero rps", []string{"chaos", "soak", "--rps", "0"}, "must be positive"},
		{"negative orders", []string{"chaos", "run", "compound-faults", "--orders", "-1"}, "--orders must not be negative"},
		{"bad faults", []string{"chaos", "run", "payment-down", "--faults", "toxiproxy"}, `--faults: "toxiproxy" is not one of lab, external`},
		{"orders without order calls", []string{"chaos", "run", "product-slow", "--orders", "1000"}, "create_order calls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

// TestChaosRun runs a short scenario through the CLI against an ephemeral
// lab, then checks the reports and renders the HTML one with Chromium.
func TestChaosRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 7 s scenario")
	}
	l := startTestLab(t)
	outDir := t.TempDir()
	args := append([]string{"chaos", "run", "payment-503-burst", "--out", outDir, "--steady", "1s"}, labFlagArgs(l)...)
	stdout, stderr, err := runCmd(t, args...)
	t.Logf("stdout:\n%s", stdout)
	// On faultlab up's policy, with the default --recovery (its breaker
	// open interval), the burst's breaker trip is over by the after probe.
	if err != nil {
		t.Fatalf("chaos run: %v\nstderr:\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "\r") || !strings.Contains(stderr, "req") {
		t.Errorf("no live progress line on stderr: %q", stderr)
	}
	if !strings.Contains(stdout, "payment-503-burst: ") || !strings.Contains(stdout, "PASS") {
		t.Errorf("no verdict summary on stdout")
	}
	if !strings.Contains(stdout, "\nhistory: ") || !strings.Contains(stdout, " operations") {
		t.Errorf("no history verdict on stdout")
	}
	mds, _ := filepath.Glob(filepath.Join(outDir, "payment-503-burst-*.md"))
	htmls, _ := filepath.Glob(filepath.Join(outDir, "payment-503-burst-*.html"))
	if len(mds) != 1 || len(htmls) != 1 {
		t.Fatalf("reports: md %v html %v, want one of each", mds, htmls)
	}
	for _, p := range append(mds, htmls...) {
		if !strings.Contains(stdout, p) {
			t.Errorf("stdout does not name %s", p)
		}
	}
	md, _ := os.ReadFile(mds[0])
	if !strings.Contains(string(md), "payment-503-burst") {
		t.Errorf("markdown report lacks the scenario name")
	}
	page, err := os.ReadFile(htmls[0])
	if err != nil {
		t.Fatal(err)
	}
	svg := svgOf(t, string(page))
	if !strings.Contains(svg, `class="fault"`) || !strings.Contains(svg, "<polyline") {
		t.Errorf("timeline lacks a fault window or a series")
	}

	t.Run("file", func(t *testing.T) {
		// A hand-written experiment file runs like a built-in scenario,
		// on a lab of its own: the burst above leaves order's breaker on
		// payment open for the default policy's open interval.
		fresh := startTestLab(t)
		file := writeTemp(t, "mine.yaml", handWritten)
		args := append([]string{"chaos", "run", "-f", file, "--out", outDir, "--steady", "1s"}, labFlagArgs(fresh)...)
		stdout, stderr, err := runCmd(t, args...)
		if err != nil {
			t.Fatalf("chaos run -f: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		if !strings.Contains(stdout, "my-payment-503: PASSED (3 passed, 0 failed") {
			t.Errorf("stdout:\n%s", stdout)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		if _, err := exec.LookPath("chromium"); err != nil {
			t.Skip("chromium not on PATH (CI installs it: apt-get install chromium)")
		}
		png := filepath.Join(t.TempDir(), "report.png")
		if keep := os.Getenv("FAULTLAB_SCREENSHOT"); keep != "" {
			png = keep
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "bash", "../../scripts/screenshot.sh", htmls[0], png).CombinedOutput()
		if err != nil {
			t.Fatalf("screenshot.sh: %v\n%s", err, out)
		}
		b, err := os.ReadFile(png)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("%s is not a PNG", png)
		}
		if len(b) < 20<<10 {
			t.Errorf("PNG is only %d bytes: the page probably did not render", len(b))
		}
	})
}

// TestChaosRunExternalFaults: with --faults external the CLI injects
// nothing, so against a lab where nobody else injects the 503 burst either,
// payment logs no fault.injected event and the hypothesis fails.
// TestChaosRunReplicaKill runs the replica-kill experiment file through
// the CLI against a lab with three payment replicas and an admin API, as
// against `faultlab up --replicas payment=3`: the kill goes through the
// admin API, and the dead replica is ejected.
func TestChaosRunReplicaKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 7 s scenario")
	}
	l, err := lab.Start(context.Background(), lab.Config{Ephemeral: true, DataDir: t.TempDir(), AdminAddr: "127.0.0.1:0", Default: lab.ScenarioPolicy,
		Replicas: map[string]int{"payment": 3}, Argon2: &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	file := filepath.Join("..", "..", "chaos", "experiments", "replicas", "replica-kill.yaml")
	args := append([]string{"chaos", "run", "-f", file, "--steady", "0", "--out", t.TempDir()}, labFlagArgs(l)...)
	stdout, stderr, err := runCmd(t, args...)
	t.Logf("stdout:\n%s", stdout)
	if err != nil && !strings.HasPrefix(err.Error(), "scenario replica-kill failed: ") {
		t.Fatalf("chaos run: %v\nstderr:\n%s", err, stderr)
	}
	if strings.Contains(stdout+stderr, "not supported") {
		t.Errorf("the replica fault was not applied")
	}
	ejected := false
	for line := range strings.Lines(stdout) {
		ejected = ejected || (strings.HasPrefix(line, "PASS") && strings.Contains(line, "endpoint.ejected"))
	}
	if !ejected {
		t.Errorf("order did not eject the killed payment replica")
	}
}

func TestChaosRunExternalFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 4 s scenario")
	}
	l := startTestLab(t)
	args := append([]string{"chaos", "run", "payment-503-burst", "--faults", "external", "--steady", "0", "--out", t.TempDir()}, labFlagArgs(l)...)
	stdout, stderr, err := runCmd(t, args...)
	if err == nil || !strings.HasPrefix(err.Error(), "scenario payment-503-burst failed: ") {
		t.Fatalf("err = %v, want the scenario to fail\nstdout:\n%s", err, stdout)
	}
	if !strings.Contains(stderr, "(faults: external)") {
		t.Errorf("stderr does not say the faults are external: %q", stderr)
	}
	failed := false
	for l := range strings.Lines(stdout) {
		failed = failed || (strings.HasPrefix(l, "FAIL") && strings.Contains(l, "fault.injected"))
	}
	if !failed {
		t.Errorf("no failed fault.injected check:\n%s", stdout)
	}
}

// svgOf returns the report's inline SVG after checking it is well-formed XML.
func svgOf(t *testing.T, page string) string {
	t.Helper()
	if !strings.HasPrefix(page, "<!doctype html>") || !strings.Contains(page, "</html>") {
		t.Fatalf("not an HTML page")
	}
	i, j := strings.Index(page, "<svg"), strings.Index(page, "</svg>")
	if i < 0 || j < i {
		t.Fatalf("the HTML report has no <svg>")
	}
	svg := page[i : j+len("</svg>")]
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return svg
			}
			t.Fatalf("the timeline SVG does not parse: %v", err)
		}
	}
}

// TestChaosRunOrders runs compound-faults stretched (here: shrunk) to 45
// orders through the CLI: the history verdict reaches stdout and the
// report, with the number of orders tried.
func TestChaosRunOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3 s scenario")
	}
	l := startTestLab(t)
	outDir := t.TempDir()
	args := append([]string{"chaos", "run", "compound-faults", "--orders", "45", "--out", outDir, "--steady", "1s"}, labFlagArgs(l)...)
	stdout, stderr, err := runCmd(t, args...)
	t.Logf("stdout:\n%s", stdout)
	if err != nil {
		t.Fatalf("chaos run: %v\nstderr:\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "\nhistory: 0 anomalies in ") {
		t.Errorf("no clean history verdict on stdout")
	}
	mds, _ := filepath.Glob(filepath.Join(outDir, "compound-faults-*.md"))
	if len(mds) != 1 {
		t.Fatalf("reports: %v", mds)
	}
	md, _ := os.ReadFile(mds[0])
	if !strings.Contains(string(md), "## History") || !strings.Contains(string(md), " orders tried, ") {
		t.Errorf("the report has no History section:\n%s", md)
	}
}

func TestSameLab(t *testing.T) {
	urls := map[string]string{"payment": "http://127.0.0.1:8084", "order": "http://127.0.0.1:8083"}
	for _, tc := range []struct {
		name     string
		replicas map[string][]string
		want     bool
	}{
		{"this lab", map[string][]string{"payment": {"http://127.0.0.1:8084", "http://127.0.0.1:18084"}, "order": {"http://127.0.0.1:8083"}}, true},
		{"another lab", map[string][]string{"payment": {"http://127.0.0.1:40001", "http://127.0.0.1:40002"}}, false},
		{"an unknown service", map[string][]string{"review": {"http://127.0.0.1:8085"}}, false},
		{"no replicas", map[string][]string{"payment": {}}, false},
		{"empty list", nil, false},
	} {
		if got := sameLab(tc.replicas, urls); got != tc.want {
			t.Errorf("%s: sameLab = %v, want %v", tc.name, got, tc.want)
		}
	}
}
