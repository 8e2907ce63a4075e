package topology_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/faultlab/faultlab"

// imports maps each package directory of the module (relative, slash
// separated) to the module packages its non-test files import.
func imports(t testing.TB) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != ".." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("..", filepath.Dir(p))
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(rel)
		for _, is := range f.Imports {
			ip := strings.Trim(is.Path.Value, `"`)
			if ip != module && !strings.HasPrefix(ip, module+"/") {
				continue
			}
			if out[dir] == nil {
				out[dir] = map[string]bool{}
			}
			out[dir][strings.TrimPrefix(strings.TrimPrefix(ip, module), "/")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func under(dir, root string) bool { return dir == root || strings.HasPrefix(dir, root+"/") }

func underAny(dir string, roots ...string) bool {
	for _, r := range roots {
		if under(dir, r) {
			return true
		}
	}
	return false
}

// TestLayering checks the import layers (issue 11): the topology package
// imports nothing of ours, and neither internal/ nor resilience/ imports
// anything from services/, chaos/, cmd/ or the wiring (shop/).
func TestLayering(t *testing.T) {
	all := imports(t)
	if len(all) < 10 {
		t.Fatalf("found imports in only %d packages: is the walk rooted at the module?", len(all))
	}
	dirs := make([]string, 0, len(all))
	for d := range all {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		targets := make([]string, 0, len(all[dir]))
		for ip := range all[dir] {
			targets = append(targets, ip)
		}
		sort.Strings(targets)
		for _, ip := range targets {
			arrow := dir + " → " + ip
			switch {
			case under(dir, "topology"):
				t.Errorf("topology must be a leaf: %s", arrow)
			case under(dir, "resilience") && underAny(ip, upper...):
				t.Errorf("resilience must not import upwards: %s", arrow)
			case under(dir, "internal") && underAny(ip, upper...):
				t.Errorf("internal must not import upwards: %s", arrow)
			}
		}
	}
}

// upper are the layers that neither internal/ nor resilience/ may import.
var upper = []string{"services", "chaos", "cmd", "shop"}
