package simse_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/simse"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

// FuzzQuery sends every query route of the built-in inventory a fuzzed
// query: the SE answers 200 with a JSON body, or 400.1 (a parameter it
// does not take, malformed, a name filter that is no regular expression, a
// filter value the property cannot have) or 400.14 (a property the object
// lacks), or 404.1 to List Logical Partitions of CPC when its name filter
// matches none, never anything else and never a panic.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{
		"name=CPC1", "name=CPC.*&name=(", "properties=status,name", "properties=nope", "cached-acceptable=true",
		"status=active&type=linux", "status=x", "name=%zz", "properties=&properties=,", "name=[[:alpha:]]+", "a;b",
		"additional-properties=load-at-activation,nope",
	} {
		f.Add(0, q)
		f.Add(2, q)
		f.Add(3, q)
		f.Add(6, q)
	}
	reg, err := jobs.New(jobs.Config{Store: memstore.New(), Clock: clocktest.NewFake(epoch)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { reg.Close() })
	se, err := simse.New(simse.Config{Registry: reg})
	if err != nil {
		f.Fatal(err)
	}
	uris := []string{
		"/api/cpcs", "/api/cpcs/" + cpc1, "/api/cpcs/" + cpc1 + "/logical-partitions",
		"/api/cpcs/" + cpc2 + "/partitions", "/api/logical-partitions/" + lpar1, "/api/partitions/" + part2,
		"/api/cpcs/" + cpc1 + "/image-activation-profiles", "/api/cpcs/" + cpc1 + "/image-activation-profiles/LP1",
		"/api/cpcs/" + cpc1 + "/load-activation-profiles/ZOSLOAD", "/api/console",
	}
	f.Fuzz(func(t *testing.T, route int, query string) {
		uri := uris[(route%len(uris)+len(uris))%len(uris)] + "?" + query
		resp, err := se.Invoke(context.Background(), bcpii.OperationRequest{Principal: principal(alice), Method: "GET", URI: uri})
		if err != nil {
			var e *hmcerr.Error
			if !errors.As(err, &e) {
				t.Fatalf("GET %s: %v", uri, err)
			}
			noLPAR := strings.Contains(uri, "/logical-partitions?") && e.HTTPStatus == 404 && e.Reason == 1
			if !noLPAR && (e.HTTPStatus != 400 || e.Reason != 1 && e.Reason != 14) {
				t.Fatalf("GET %s: %v", uri, err)
			}
			return
		}
		if resp.Status != 200 || !json.Valid(resp.Body) {
			t.Fatalf("GET %s = %d %s", uri, resp.Status, resp.Body)
		}
	})
}
