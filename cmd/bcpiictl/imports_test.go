package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
)

const modulePath = apptest.ModulePath

// TestClientsImportOnlyPublicPackages keeps the clients honest: bcpiictl,
// and every package of this module it depends on, import no internal
// package, so that what bcpiictl does any client can do with the
// generated stubs and bcpii/rpctypes. The example clients in other
// languages name no internal path either.
func TestClientsImportOnlyPublicPackages(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := apptest.WalkImports(t, root, modulePath+"/cmd/bcpiictl", func(pkg, file, imp string) {
		if strings.HasPrefix(imp, modulePath+"/") && (strings.Contains(imp, "/internal/") || strings.HasSuffix(imp, "/internal")) {
			t.Errorf("%s (%s) imports %s", pkg, file, imp)
		}
	})
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
