package main

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

// TestClientsImportOnlyPublicPackages keeps the clients honest: bcpiictl,
// and every package of this module it depends on, import no internal
// package, so that what bcpiictl does any client can do with the
// generated stubs and bcpii/rpctypes. The example clients in other
// languages name no internal path either.
func TestClientsImportOnlyPublicPackages(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := map[string]bool{}
	var visit func(pkg string)
	visit = func(pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(pkg, modulePath), "/")))
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
				if !strings.HasPrefix(path, modulePath+"/") {
					continue
				}
				if strings.Contains(path, "/internal/") || strings.HasSuffix(path, "/internal") {
					t.Errorf("%s (%s) imports %s", pkg, name, path)
				}
				visit(path)
			}
		}
	}
	visit(modulePath + "/cmd/bcpiictl")
	if !seen[modulePath+"/bcpii/rpctypes"] || !seen[modulePath+"/gen/bcpii/v1"] {
		t.Fatalf("the walk reached %v, not the public packages bcpiictl uses: it is not looking where it should", seen)
	}

	examples := filepath.Join(root, "examples")
	n := 0
	err := filepath.WalkDir(examples, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "gen" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		switch filepath.Ext(path) {
		case ".go", ".py", ".ts":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		if strings.Contains(string(b), modulePath+"/internal") {
			t.Errorf("%s names an internal package", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("found %d example sources; the walk is not looking where it should", n)
	}
}
