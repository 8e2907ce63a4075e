package logstore

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrToolNotFound is returned by FindTool when a binary is nowhere to be
// found. Install it with `bash scripts/tools.sh <name>`.
var ErrToolNotFound = errors.New("tool not found")

// aliases are other names a tool has on some systems (Debian installs
// Alertmanager as prometheus-alertmanager).
var aliases = map[string][]string{
	"alertmanager": {"prometheus-alertmanager"},
}

// ToolDirs returns the directories FindTool searches before PATH, in order:
// $FAULTLAB_TOOLS/bin, then ~/.cache/faultlab/tools/bin (scripts/tools.sh's
// default).
func ToolDirs() []string {
	var dirs []string
	if d := os.Getenv("FAULTLAB_TOOLS"); d != "" {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		d := filepath.Join(h, ".cache", "faultlab", "tools", "bin")
		if len(dirs) == 0 || dirs[0] != d {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// FindTool returns the path of an executable named name, looking in
// ToolDirs, then PATH (under its own name and known aliases).
func FindTool(name string) (string, error) {
	for _, d := range ToolDirs() {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	for _, n := range append([]string{name}, aliases[name]...) {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w (run: bash scripts/tools.sh %s)", name, ErrToolNotFound, name)
}
