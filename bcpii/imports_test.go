package bcpii

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/bcpii-gateway/bcpii-gateway"

// TestNoTransportImports keeps the package pure logic: neither it nor any
// package of this module it depends on may import gRPC, net/http or the
// generated code, so the rules here stay the same for every transport.
func TestNoTransportImports(t *testing.T) {
	forbidden := func(path string) bool {
		return path == "net/http" || strings.HasPrefix(path, "net/http/") ||
			path == "google.golang.org/grpc" || strings.HasPrefix(path, "google.golang.org/grpc/") ||
			strings.HasPrefix(path, "github.com/grpc-ecosystem/") ||
			strings.HasPrefix(path, modulePath+"/gen/")
	}
	seen := map[string]bool{}
	var visit func(dir, pkg string)
	visit = func(dir, pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if forbidden(path) {
					t.Errorf("%s (%s) imports %s", pkg, name, path)
				}
				if rest, ok := strings.CutPrefix(path, modulePath+"/"); ok {
					visit(filepath.Join("..", filepath.FromSlash(rest)), path)
				}
			}
		}
	}
	visit(".", modulePath+"/bcpii")
	if !seen[modulePath+"/internal/jobs"] {
		t.Fatal("the walk did not reach internal/jobs; it is not looking where it should")
	}
}
