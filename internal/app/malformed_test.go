package app_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// TestMalformedRESTInput sends REST requests whose headers, query or body
// carry bytes that are not UTF-8, or JSON that encoding/json takes and
// protojson does not. The REST side passes these to the gRPC service in
// proto strings, which must be UTF-8. Each is the caller's mistake and
// answers 4xx in the contract's order, never 500; and a password in a
// malformed logon body reaches neither the log nor the answer.
func TestMalformedRESTInput(t *testing.T) {
	var logs syncBuffer
	g := startGateway(t, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), func(c *app.Config) {
		c.UsersFile = writeUsers(t, map[string]string{sessionUser: sessionPassword})
	})
	rest := g.restClient(t) // loopback: the local partition LP1
	objs := g.discover(t, rest, nil)
	const leak = "Fragm3ntLeak"

	tests := []struct {
		name, method, path, target, body string
		status, reason                   int
	}{
		{"operation, target not UTF-8", "POST", objs["LP1"].uri + "/operations/activate", lp1 + "\x80", "", 400, 2},
		{"operation, target only a stray byte", "POST", objs["LP1"].uri + "/operations/activate", "\xff", "", 400, 2},
		{"list, target not UTF-8", "GET", objs["CPC1"].uri + "/logical-partitions", "IBM390PS.CPC\xc31", "", 400, 2},
		{"unknown object, target not UTF-8", "GET", "/api/partitions/00000000-0000-4000-8000-000000000000", "\xff", "", 404, 1},
		{"query not UTF-8", "GET", "/api/cpcs?name=CPC\xff", "", "", 400, 1},
		{"query escaped, not UTF-8", "GET", "/api/cpcs?name=CPC%FF", "", "", 400, 1},
		{"operation, body not UTF-8", "POST", objs["LP1"].uri + "/operations/activate", lp1, `{"activation-profile-name":"LP1` + "\xff" + `","force":true}`, 400, 7},
		{"logon, password not UTF-8", "POST", "/api/sessions", "", `{"userid":"operator","password":"` + leak + "\xff" + `"}`, 400, 7},
		{"logon, lone surrogate", "POST", "/api/sessions", "", `{"userid":"operator","password":"x\ud800` + leak + `"}`, 400, 7},
		{"logon, password twice", "POST", "/api/sessions", "", `{"userid":"operator","password":"` + leak + `","password":"` + sessionPassword + `"}`, 400, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.target != "" {
				hdr["X-Api-Target-Name"] = []string{tt.target}
			}
			ans := g.rest(t, rest, tt.method, tt.path, hdr, tt.body)
			e := wantRESTError(t, ans, tt.status, tt.reason)
			if strings.Contains(string(ans.body), leak) || strings.Contains(e.Message, leak[:6]) {
				t.Errorf("the answer holds the password: %s", ans.body)
			}
		})
	}
	// The operations refused started nothing; a well-formed one still
	// starts.
	jobURIFromBody(t, g.rest(t, rest, http.MethodPost, objs["LP1"].uri+"/operations/activate", http.Header{"X-Api-Target-Name": {lp1}}, `{"force":true}`))

	g.stop(t)
	if log := logs.String(); strings.Contains(log, leak[:6]) || strings.Contains(log, sessionPassword) {
		t.Errorf("the log holds a password:\n%s", log)
	}
}

// TestJobTargetNameNotPrintable sends Query Job Status, Cancel Job and
// Delete for the caller's own BCPii job with X-API-Target-Name values
// holding bytes that gRPC metadata cannot carry. Such a value is
// malformed, 400.2, as over gRPC: it must neither count as missing nor
// vanish beside a right one, which would then pass alone.
func TestJobTargetNameNotPrintable(t *testing.T) {
	g := startGateway(t, nil) // loopback callers are the local partition LP1
	rest := g.restClient(t)
	objs := g.discover(t, rest, nil)
	id := jobIDFromURI(t, jobURIFromBody(t, g.rest(t, rest, http.MethodPost, objs["PART2"].uri+"/operations/stop", http.Header{"X-Api-Target-Name": {part2}}, "")))

	for name, values := range map[string][]string{
		"a stray byte":              {"\xff"},
		"the target and a letter":   {part2 + "é"},
		"a stray byte, then right":  {"\xff", part2},
		"right, then a stray byte":  {part2, "\x80"},
		"right, then the right one": {part2, part2},
	} {
		t.Run(name, func(t *testing.T) {
			for _, c := range restJobCalls {
				ans := g.rest(t, rest, c.method, "/api/jobs/"+id+c.suffix, http.Header{"X-Api-Target-Name": values}, "")
				e := wantRESTError(t, ans, 400, 2)
				wantBCPiiError(t, e, lp1)
				if strings.Contains(e.Message, "missing") {
					t.Errorf("%s: a header that is there is called missing: %s", c.method, e.Message)
				}
			}
		})
	}
	// The job was neither canceled nor deleted.
	ans := g.rest(t, rest, http.MethodGet, "/api/jobs/"+id, http.Header{"X-Api-Target-Name": {part2}}, "")
	if ans.status != 200 || string(ans.body) != `{"status":"running"}` {
		t.Errorf("GET: %d %s", ans.status, ans.body)
	}
}
