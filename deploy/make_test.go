package deploy

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// makeVar returns the value of `NAME := …` in the Makefile.
func makeVar(t *testing.T, mk, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` := (.*)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatalf("Makefile has no %s", name)
	}
	return strings.Fields(m[1])
}

// TestRealProcessSuitesAreNeverCached: every package whose tests start
// real processes is in the Makefile's REAL or TIMED list, and those run
// with -count=1 (regression: a second `make test` served the chaos,
// container and end-to-end suites from the test cache and re-ran only the
// fuzzers).
func TestRealProcessSuitesAreNeverCached(t *testing.T) {
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	lists := map[string][]string{"REAL": makeVar(t, mk, "REAL"), "TIMED": makeVar(t, mk, "TIMED")}
	for name := range lists {
		ran := false
		for line := range strings.Lines(mk) {
			if strings.Contains(line, "$(GO) test") && strings.Contains(line, "$("+name+")") {
				ran = true
				if !strings.Contains(line, "-count=1") {
					t.Errorf("the Makefile runs $(%s) without -count=1: %s", name, strings.TrimSpace(line))
				}
			}
		}
		if !ran {
			t.Errorf("no `$(GO) test … $(%s)` line in the Makefile", name)
		}
	}
	covered := func(dir string) bool {
		for _, pats := range lists {
			for _, p := range pats {
				p = strings.TrimPrefix(p, "./")
				if rest, ok := strings.CutSuffix(p, "/..."); ok {
					if dir == rest || strings.HasPrefix(dir, rest+"/") {
						return true
					}
				} else if dir == p {
					return true
				}
			}
		}
		return false
	}
	starts := regexp.MustCompile(`exec\.Command|testcontainers|lab\.Start\(|labtest\.Start\(|proctest\.Start\(|startTestLab\(`)
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(strings.TrimPrefix(path, "../")))
		if starts.Match(src) && !covered(dir) {
			t.Errorf("%s starts real processes, but ./%s is in neither REAL nor TIMED", path, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestToolsLinksChromiumOnce: scripts/tools.sh run again with its own bin
// directory first on PATH (as the Makefile sets it) keeps the link to the
// system's chromium (regression: every other run linked bin/chromium to
// itself).
func TestToolsLinksChromiumOnce(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("no chromium on this machine")
	}
	tools := t.TempDir()
	bin := filepath.Join(tools, "bin")
	for i := range 3 {
		cmd := exec.Command("bash", "../scripts/tools.sh", "chromium")
		cmd.Env = append(os.Environ(), "FAULTLAB_TOOLS="+tools, "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		target, err := filepath.EvalSymlinks(filepath.Join(bin, "chromium"))
		if err != nil || strings.HasPrefix(target, bin) {
			t.Fatalf("run %d: bin/chromium resolves to %q (%v)\n%s", i+1, target, err, out)
		}
		if n := strings.Count(string(out), "\n"); n != 1 {
			t.Errorf("run %d printed %d lines, want one:\n%s", i+1, n, out)
		}
	}
}

// TestFuzzScriptCapsMinimization: scripts/fuzz.sh caps the minimization of
// new-coverage inputs, which otherwise ran up to 60s each and showed as
// 0/sec for most of a 10s run.
func TestFuzzScriptCapsMinimization(t *testing.T) {
	b, err := os.ReadFile("../scripts/fuzz.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`go test [^\n]*-fuzz [^\n]*-fuzzminimizetime "\$minimize"`).Match(b) ||
		!strings.Contains(string(b), `minimize="${FUZZMINIMIZE:-100x}"`) {
		t.Error("scripts/fuzz.sh runs the fuzzers without -fuzzminimizetime")
	}
}
