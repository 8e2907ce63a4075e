package logstoretest

import (
	"testing"

	"github.com/faultlab/faultlab/internal/tooldirs"
	"github.com/faultlab/faultlab/observability/logstore"
)

// Required reports whether a missing tool must fail the test rather than
// skip it (see the package doc and tooldirs.Required).
func Required() bool { return tooldirs.Required() }

// Dirs returns where scripts/tools.sh puts the tools (tooldirs.Dirs).
func Dirs() []string { return tooldirs.Dirs() }

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
