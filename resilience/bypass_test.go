package resilience

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// bypassAllowed lists files (relative to the repository root, slash
// separated) that may build their own HTTP client: none of them calls
// another service. Client construction for service-to-service calls lives in
// internal/ (not scanned), on top of resilience.New.
var bypassAllowed = map[string]string{
	// "cmd/faultlab/load.go": "load generator: calls the public gateway as a user would",
}

// bypassHelpers are net/http identifiers that send or build a client
// outside the resilience stack.
var bypassHelpers = map[string]bool{
	"Get": true, "Post": true, "Head": true, "PostForm": true,
	"DefaultClient": true, "DefaultTransport": true,
}

// TestNoBypassOfResilienceClient fails if code under services/ or cmd/
// makes outbound HTTP calls without the resilience client.
func TestNoBypassOfResilienceClient(t *testing.T) {
	root := filepath.Join("..")
	var findings []string
	for _, dir := range []string{"services", "cmd"} {
		base := filepath.Join(root, dir)
		if _, err := os.Stat(base); os.IsNotExist(err) {
			continue
		}
		err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			if _, ok := bypassAllowed[filepath.ToSlash(rel)]; ok {
				return nil
			}
			found, err := scanBypass(path)
			if err != nil {
				return err
			}
			findings = append(findings, found...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range findings {
		t.Errorf("%s: outbound HTTP outside the resilience client (use the client built in internal/ on resilience.New)", f)
	}
}

func TestBypassCheckFlagsDirectCalls(t *testing.T) {
	found, err := scanBypass(filepath.Join("testdata", "bypass", "bad.go"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http.Get", "http.Post", "http.DefaultClient", "http.Client{}", "new(http.Client)", "http.DefaultTransport"}
	if len(found) != len(want) {
		t.Fatalf("found %d, want %d:\n%s", len(found), len(want), strings.Join(found, "\n"))
	}
	for i, w := range want {
		if !strings.HasSuffix(found[i], w) {
			t.Errorf("finding %d = %q, want ...%s", i, found[i], w)
		}
	}
}

// scanBypass reports, as "file:line: what", each use in one file of a
// net/http package-level helper, the default client or transport, an
// http.Client composite literal, or new(http.Client). The import name is
// resolved per file, so aliases are caught too.
func scanBypass(path string) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "net/http" {
			name := "http"
			if imp.Name != nil {
				name = imp.Name.Name
			}
			names[name] = true
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	isHTTP := func(e ast.Expr, sel string) bool {
		s, ok := e.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		id, ok := s.X.(*ast.Ident)
		return ok && names[id.Name] && (sel == "" || s.Sel.Name == sel)
	}
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if isHTTP(n, "") && bypassHelpers[n.Sel.Name] {
				report(n, "http."+n.Sel.Name)
			}
		case *ast.CompositeLit:
			if isHTTP(n.Type, "Client") {
				report(n, "http.Client{}")
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && len(n.Args) == 1 && isHTTP(n.Args[0], "Client") {
				report(n, "new(http.Client)")
			}
		}
		return true
	})
	return out, nil
}
