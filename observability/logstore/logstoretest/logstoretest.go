package logstoretest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/faultlab/faultlab/observability/logstore"
)

// Required reports whether a missing tool must fail the test rather than
// skip it (see the package doc).
func Required() bool {
	if os.Getenv("FAULTLAB_REQUIRE_TOOLS") == "1" {
		return true
	}
	return os.Getenv("FAULTLAB_TOOLS") != "" && !testing.Short()
}

// Dirs returns where scripts/tools.sh puts the tools: $FAULTLAB_TOOLS/bin
// when it is set, then ~/.cache/faultlab/tools/bin, its default.
func Dirs() []string {
	var dirs []string
	if d := os.Getenv("FAULTLAB_TOOLS"); d != "" {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".cache", "faultlab", "tools", "bin"))
	}
	return dirs
}

// Tool returns the path of the named tool (logstore.FindTool in Dirs, then
// PATH), or skips (or fails, when tools are Required) the test.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := logstore.FindTool(name, Dirs()...)
	if err == nil {
		return p
	}
	if Required() {
		tb.Fatalf("%v; tools are required here (FAULTLAB_TOOLS or FAULTLAB_REQUIRE_TOOLS is set)", err)
	}
	tb.Skipf("skipping: %v", err)
	return ""
}

// VictoriaLogs starts VictoriaLogs on a free loopback port with storage in
// a temporary directory, and stops it when the test ends.
func VictoriaLogs(tb testing.TB) *logstore.Process {
	tb.Helper()
	bin := Tool(tb, "victoria-logs")
	p, err := logstore.StartVictoriaLogs(tb.Context(), logstore.Options{Bin: bin, Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("start victoria-logs: %v", err)
	}
	tb.Cleanup(func() { p.Stop() })
	return p
}

// Filebeat starts Filebeat with config (e.g. filebeat.local.yml), data in a
// temporary directory and env added to its environment, and stops it when
// the test ends.
func Filebeat(tb testing.TB, config string, env ...string) *logstore.Process {
	tb.Helper()
	bin := Tool(tb, "filebeat")
	dir := tb.TempDir()
	p, err := logstore.StartFilebeat(tb.Context(), logstore.Options{Bin: bin, Config: config, DataDir: dir, Env: env})
	if err != nil {
		tb.Fatalf("start filebeat: %v", err)
	}
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			tb.Logf("filebeat output (tail):\n%s", p.Output())
		}
	})
	return p
}
