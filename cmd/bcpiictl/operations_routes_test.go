package main

import (
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// TestOperationsFollowRoutes: every operation bcpiictl offers is a route of
// the gateway's table, and each flag that sets a body field sets one the
// route declares, of the route's type: the route is the one declaration.
func TestOperationsFollowRoutes(t *testing.T) {
	prefix := map[string]string{"lpar": "/api/logical-partitions/{id}/operations/", "partition": "/api/partitions/{id}/operations/"}
	routes := map[string]bcpii.Route{}
	for _, r := range bcpii.Routes() {
		routes[r.Method+" "+r.Pattern] = r
	}
	for kind, ops := range operations {
		for _, op := range ops {
			paths := []string{op.name}
			if op.path != "" {
				paths = []string{op.path}
			}
			if op.clearPath != "" {
				paths = append(paths, op.clearPath)
			}
			for _, p := range paths {
				r, ok := routes["POST "+prefix[kind]+p]
				if !ok {
					t.Errorf("bcpiictl %s %s: no route POST %s%s", kind, op.name, prefix[kind], p)
					continue
				}
				for _, f := range op.fields {
					var field *bcpii.BodyField
					for i := range r.Body {
						if r.Body[i].Name == f.field {
							field = &r.Body[i]
						}
					}
					switch {
					case field == nil:
						t.Errorf("bcpiictl %s %s --%s sets %s, which %s does not declare", kind, op.name, f.flag, f.field, r.Name)
					case f.boolean != (field.Type == "boolean"):
						t.Errorf("bcpiictl %s %s --%s: boolean %v, the route's type %s", kind, op.name, f.flag, f.boolean, field.Type)
					}
				}
				for _, f := range r.Body {
					if f.Required && !strings.Contains(flagsOf(op), f.Name) {
						t.Errorf("bcpiictl %s %s cannot set the required field %s", kind, op.name, f.Name)
					}
				}
			}
		}
	}
}

func flagsOf(op operation) string {
	var b strings.Builder
	for _, f := range op.fields {
		b.WriteString(f.field + " ")
	}
	return b.String()
}
