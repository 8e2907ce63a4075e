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

// FindTool returns the path of an executable named name, looking in dirs
// in order (scripts/tools.sh installs into $FAULTLAB_TOOLS/bin, by default
// ~/.cache/faultlab/tools/bin), then on PATH under its own name and known
// aliases. The caller decides the dirs: apart from PATH, this package
// reads no environment.
func FindTool(name string, dirs ...string) (string, error) {
	for _, d := range dirs {
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
