package hmcerr

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCatalogueIsComplete: no two entries share a status.reason, and no
// Error is built outside this package: every error a caller sees is one of
// the catalogue's, or an upstream HMC's passed through by Upstream.
func TestCatalogueIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Catalogue() {
		code := fmt.Sprintf("%d.%d", e.Err.HTTPStatus, e.Err.Reason)
		if seen[code] {
			t.Errorf("%s is in the catalogue twice", code)
		}
		seen[code] = true
		if e.When == "" || e.RaisedBy == "" || e.Err.Message == "" {
			t.Errorf("%s is not documented: %+v", code, e)
		}
	}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "gen", "node_modules", ".git", "testdata", "hmcerr":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if sel, ok := lit.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "hmcerr" {
					t.Errorf("%s builds an hmcerr.Error outside the catalogue", path)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestREADMEReasonCodes: the README's reason-code table is the catalogue,
// row for row.
func TestREADMEReasonCodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const header = "| status.reason | when | raised by |\n| --- | --- | --- |\n"
	_, rest, ok := strings.Cut(string(b), header)
	if !ok {
		t.Fatal("README.md has no reason-code table")
	}
	table, _, _ := strings.Cut(rest, "\n\n")
	var want []string
	for _, e := range Catalogue() {
		want = append(want, fmt.Sprintf("| %d.%d | %s | %s |", e.Err.HTTPStatus, e.Err.Reason, e.When, e.RaisedBy))
	}
	if got := strings.Split(strings.TrimSpace(table), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README.md's reason-code table differs from the catalogue; it should read:\n%s", strings.Join(want, "\n"))
	}
	const jobHeader = "| job status.reason | when |\n| --- | --- |\n"
	_, rest, ok = strings.Cut(string(b), jobHeader)
	if !ok {
		t.Fatal("README.md has no table of job outcomes")
	}
	table, _, _ = strings.Cut(rest, "\n\n")
	want = nil
	for _, o := range JobOutcomes() {
		want = append(want, fmt.Sprintf("| %d.%d | %s |", o.StatusCode, o.ReasonCode, o.When))
	}
	if got := strings.Split(strings.TrimSpace(table), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README.md's table of job outcomes differs from the catalogue; it should read:\n%s", strings.Join(want, "\n"))
	}
}

// TestErrorText: an error with a cause reads as one sentence, without a
// period before the colon.
func TestErrorText(t *testing.T) {
	got := ErrUnavailable.WithCause(fmt.Errorf("dial tcp 127.0.0.1:1: connection refused")).Error()
	if want := "503.1: The Support Element or HMC cannot be reached: dial tcp 127.0.0.1:1: connection refused"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := ErrNotFound.Error(); !strings.HasSuffix(got, "requester.") {
		t.Errorf("%q", got)
	}
}
