package logstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultlab/faultlab/observability/logstore"
)

func TestFindTool(t *testing.T) {
	tools := t.TempDir()
	bin := filepath.Join(tools, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(bin, "faultlab-fake-tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Not executable: not a tool.
	if err := os.WriteFile(filepath.Join(bin, "faultlab-not-exec"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())

	if got, err := logstore.FindTool("faultlab-fake-tool", t.TempDir(), bin); err != nil || got != exe {
		t.Errorf("FindTool = %q, %v; want %q", got, err, exe)
	}
	for _, name := range []string{"faultlab-not-exec", "faultlab-missing"} {
		if _, err := logstore.FindTool(name, bin); !errors.Is(err, logstore.ErrToolNotFound) {
			t.Errorf("FindTool(%q) error = %v, want ErrToolNotFound", name, err)
		}
	}

	// PATH is the last resort.
	path := t.TempDir()
	onPath := filepath.Join(path, "faultlab-on-path")
	if err := os.WriteFile(onPath, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", path)
	if got, err := logstore.FindTool("faultlab-on-path"); err != nil || got != onPath {
		t.Errorf("FindTool = %q, %v; want %q", got, err, onPath)
	}
}
