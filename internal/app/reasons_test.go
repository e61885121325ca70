package app_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// reasonsInventory has what every reason code needs: LP1 (the local
// partition) operating with no load address anywhere, LP2 taking commands
// from LP1 only, LP3 from no one, and a DPM partition whose start stays
// cancel-pending for an hour.
const reasonsInventory = `
cpcs:
  - name: CPC1
    object-id: c1
    target-name: IBM390PS.CPC1
    status: operating
    logical-partitions:
      - {name: LP1, object-id: l1, status: operating}
      - {name: LP2, object-id: l2, status: not-activated, bcpii-permissions: {accept: [IBM390PS.CPC1.LP1]}}
      - {name: LP3, object-id: l3, status: not-operating, bcpii-permissions: {send: false, accept: none}}
  - name: CPC2
    object-id: c2
    target-name: IBM390PS.CPC2
    dpm-enabled: true
    status: operating
    partitions:
      - {name: PART1, object-id: p1, status: stopped, operations: {start: {duration: 1h, cancel-duration: 1h}}}
      - {name: PART2, object-id: p2, status: active}
`

// TestReasonCodes answers every reason code the gateway can answer over
// REST to the local partition LP1, and checks bcpii-error: true when the
// gateway raised the error, false when the simulated SE did, absent on
// web-services requests (Logon, a session header).
func TestReasonCodes(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(inv, []byte(reasonsInventory), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, nil, func(c *app.Config) { c.Inventory = inv })
	rest := g.restClient(t)
	jobsc := bcpiiv1.NewJobServiceClient(g.grpcConn(t))
	tgt := func(name string) http.Header { return http.Header{"X-Api-Target-Name": {name}} }
	start := func(uri, target string) string {
		t.Helper()
		return jobURIFromBody(t, g.rest(t, rest, "POST", uri, tgt(target), ""))
	}
	// Jobs in the states the job rules need.
	lp2Activate := start("/api/logical-partitions/l2/operations/activate", lp2) // runs 3s, not cancelable
	pending := start("/api/partitions/p1/operations/start", part1)
	if a := g.rest(t, rest, "POST", pending+"/operations/cancel", tgt(part1), ""); a.status != 202 {
		t.Fatalf("cancel: %d %s", a.status, a.body)
	}
	ended := start("/api/partitions/p2/operations/stop", part2)
	g.clock.Advance(3 * time.Second)
	if _, err := jobsc.WaitJob(withMD(t, rpctypes.TargetKey, part2), &bcpiiv1.WaitJobRequest{JobId: jobIDFromURI(t, ended)}); err != nil {
		t.Fatal(err)
	}
	// LP2's first activation ends on its own goroutine: once its job has
	// ended, LP2 is free for the next.
	if w, err := jobsc.WaitJob(withMD(t, rpctypes.TargetKey, lp2), &bcpiiv1.WaitJobRequest{JobId: jobIDFromURI(t, lp2Activate)}); err != nil || w.GetTimedOut() {
		t.Fatalf("WaitJob of LP2's activation: %v, %v", w, err)
	}
	busy := start("/api/logical-partitions/l2/operations/activate", lp2) // LP2 is not-operating now

	yes, no := true, false
	tests := []struct {
		name, method, uri string
		hdr               http.Header
		body              string
		status, reason    int
		bcpii             *bool // nil: no bcpii-error field
	}{
		{"unknown path", "GET", "/api/nothing", nil, "", 404, 1, &yes},
		{"method", "DELETE", "/api/cpcs", nil, "", 405, 0, &yes},
		{"body too large", "POST", "/api/logical-partitions/l2/operations/activate", tgt(lp2), strings.Repeat(" ", 65<<10), 413, 0, &yes},
		{"Accept", "GET", "/api/cpcs", http.Header{"Accept": {"text/plain"}}, "", 406, 0, &yes},
		{"unknown session", "GET", "/api/cpcs", http.Header{"X-Api-Session": {"nope"}}, "", 403, 5, nil},
		{"unknown query parameter", "GET", "/api/cpcs?x=1", nil, "", 400, 1, &yes},
		{"name filter no regular expression", "GET", "/api/cpcs?name=(", nil, "", 400, 1, &no},
		{"no target name", "GET", "/api/cpcs/c1/logical-partitions", nil, "", 400, 2, &yes},
		{"metrics context without body", "POST", "/api/services/metrics/context", nil, "", 400, 3, &no},
		{"body on a GET", "GET", "/api/cpcs", nil, "{}", 400, 4, &yes},
		{"no load address", "POST", "/api/logical-partitions/l1/operations/load", tgt(lp1), `{"force":true}`, 400, 5, &no},
		{"logon unknown field", "POST", "/api/sessions", nil, `{"userid":"u","password":"p","x":1}`, 400, 6, nil},
		{"body not UTF-8", "POST", "/api/logical-partitions/l2/operations/activate", tgt(lp2), "{\"force\":\"\xff\"}", 400, 7, &yes},
		{"body not well-formed JSON", "POST", "/api/logical-partitions/l2/operations/activate", tgt(lp2), `{"force":`, 400, 7, &no},
		{"logon body not JSON", "POST", "/api/sessions", nil, `{"userid":`, 400, 7, nil},
		{"unknown property", "GET", "/api/logical-partitions/l1?properties=nope", tgt(lp1), "", 400, 14, &no},
		{"failed logon", "POST", "/api/sessions", nil, `{"userid":"u","password":"p"}`, 403, 0, nil},
		{"not permitted", "POST", "/api/logical-partitions/l3/operations/activate", tgt(lp3), "", 403, 1, &no},
		{"unknown object", "GET", "/api/logical-partitions/nope", tgt(lp1), "", 404, 1, &no},
		{"LPAR name filter matching none", "GET", "/api/cpcs/c1/logical-partitions?name=LP9", tgt(cpc1), "", 404, 1, &no},
		{"unknown job", "GET", "/api/jobs/0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10", nil, "", 404, 1, &yes},
		{"cancel not cancelable", "POST", lp2Activate + "/operations/cancel", tgt(lp2), "", 404, 4, &yes},
		{"busy", "POST", "/api/logical-partitions/l2/operations/deactivate", tgt(lp2), "", 409, 2, &no},
		{"CPC not in DPM mode", "POST", "/api/cpcs/c1/operations/start", tgt(cpc1), "", 409, 5, &no},
		{"delete a running job", "DELETE", busy, tgt(lp2), "", 409, 40, &yes},
		{"cancel an ended job", "POST", ended + "/operations/cancel", tgt(part2), "", 409, 41, &yes},
		{"cancel twice", "POST", pending + "/operations/cancel", tgt(part1), "", 409, 42, &yes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wantRESTError(t, g.rest(t, rest, tt.method, tt.uri, tt.hdr, tt.body), tt.status, tt.reason)
			switch {
			case tt.bcpii == nil && e.BCPiiError != nil:
				t.Errorf("bcpii-error %v on a web-services request", *e.BCPiiError)
			case tt.bcpii != nil && (e.BCPiiError == nil || *e.BCPiiError != *tt.bcpii):
				t.Errorf("bcpii-error %v, want %v", e.BCPiiError, *tt.bcpii)
			}
		})
	}
}
