package tooldirs

import (
	"path/filepath"
	"testing"
)

func TestDirs(t *testing.T) {
	t.Setenv("FAULTLAB_TOOLS", "/opt/tools")
	t.Setenv("HOME", "/home/x")
	got := Dirs()
	want := []string{"/opt/tools/bin", filepath.Join("/home/x", ".cache", "faultlab", "tools", "bin")}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Dirs() = %q, want %q", got, want)
	}
}

func TestRequired(t *testing.T) {
	t.Setenv("FAULTLAB_TOOLS", "")
	t.Setenv("FAULTLAB_REQUIRE_TOOLS", "")
	if Required() {
		t.Fatal("required with neither variable set")
	}
	t.Setenv("FAULTLAB_REQUIRE_TOOLS", "1")
	if !Required() {
		t.Fatal("not required with FAULTLAB_REQUIRE_TOOLS=1")
	}
}
