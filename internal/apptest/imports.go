package apptest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ModulePath is this module's path.
const ModulePath = "github.com/bcpii-gateway/bcpii-gateway"

// WalkImports calls f for every import of the non-test Go files of pkg, a
// package of this module whose directory is dir, and of every package of
// this module it depends on; root is the module's directory. It returns
// the packages of this module it walked.
func WalkImports(t testing.TB, root, pkg string, f func(pkg, file, imp string)) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	var visit func(pkg string)
	visit = func(pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(pkg, ModulePath), "/")))
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range file.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				f(pkg, name, path)
				if strings.HasPrefix(path, ModulePath+"/") {
					visit(path)
				}
			}
		}
	}
	visit(pkg)
	return seen
}
