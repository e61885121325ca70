package app_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// TestQueryAPIVersion: the gateway on the simulated SE answers Query API
// Version as an HMC 2.16.0 at API level 4.10, over REST and gRPC alike:
// hmc-version parses as numbers the way IBM's Ansible modules parse it
// (split on dots, each an int), the console's properties name the same
// version, and the logon answer the same API level.
func TestQueryAPIVersion(t *testing.T) {
	g := startGateway(t, nil)
	rest := g.restClient(t)
	a := g.rest(t, rest, http.MethodGet, "/api/version", nil, "")
	const want = `{"api-major-version":4,"api-minor-version":10,"hmc-name":"bcpii-gateway","hmc-version":"2.16.0"}`
	if a.status != http.StatusOK || string(a.body) != want {
		t.Fatalf("GET /api/version: %d %s, want %s", a.status, a.body, want)
	}
	v, err := bcpiiv1.NewSessionServiceClient(g.grpcConn(t)).GetVersion(withMD(t), &bcpiiv1.GetVersionRequest{})
	if err != nil || v.GetHmcVersion() != "2.16.0" || v.GetApiMajorVersion() != 4 || v.GetApiMinorVersion() != 10 {
		t.Fatalf("GetVersion: %v, %v", v, err)
	}
	var parts []int
	for _, s := range strings.Split(v.GetHmcVersion(), ".") {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("hmc-version %q does not parse as numbers: %v", v.GetHmcVersion(), err)
		}
		parts = append(parts, n)
	}
	if len(parts) != 3 || parts[0] != 2 || parts[1] < 14 {
		t.Fatalf("hmc-version %v is not an HMC's that IBM's tools take for 2.14 or later", parts)
	}
	a = g.rest(t, rest, http.MethodGet, "/api/console?properties=version,api-major-version,api-minor-version", nil, "")
	var console map[string]any
	if err := json.Unmarshal(a.body, &console); err != nil || console["version"] != "2.16.0" ||
		console["api-major-version"] != 4.0 || console["api-minor-version"] != 10.0 {
		t.Fatalf("GET /api/console: %d %s", a.status, a.body)
	}
}
