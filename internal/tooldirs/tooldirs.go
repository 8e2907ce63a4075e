package tooldirs

import (
	"os"
	"path/filepath"
	"testing"
)

// Required reports whether a missing tool must fail the test rather than
// skip it: FAULTLAB_REQUIRE_TOOLS=1, or FAULTLAB_TOOLS is set (as `make
// test` and CI set it) and the test is not -short.
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
