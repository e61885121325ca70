package bcpii

import (
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
)

const modulePath = apptest.ModulePath

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
	seen := apptest.WalkImports(t, "..", modulePath+"/bcpii", func(pkg, file, imp string) {
		if forbidden(imp) {
			t.Errorf("%s (%s) imports %s", pkg, file, imp)
		}
	})
	if !seen[modulePath+"/internal/jobs"] {
		t.Fatal("the walk did not reach internal/jobs; it is not looking where it should")
	}
}
