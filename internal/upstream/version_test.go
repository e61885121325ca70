package upstream_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// TestQueryAPIVersionPassesThrough: a gateway whose upstream is another
// gateway answers Query API Version as the upstream does, with the HMC
// name and version of the upstream's inventory, not its own defaults.
func TestQueryAPIVersionPassesThrough(t *testing.T) {
	inv := writeFile(t, "inventory.yaml", `console: {hmc-name: HMC7, hmc-version: 2.15.0}
cpcs:
  - {name: CPC1, object-id: c1, target-name: IBM390PS.CPC1, status: operating, logical-partitions: [{name: LP1, object-id: l1, status: operating}]}
`)
	up := startUpstream(t, inv)
	down := startDownstream(t, up.url(), nil, time.Second, func(c *app.Config) {
		c.HMCCAFile = filepath.Join(up.cfg.DataDir, "tls", "gateway.crt")
	})
	const want = `{"api-major-version":4,"api-minor-version":10,"hmc-name":"HMC7","hmc-version":"2.15.0"}`
	code, body := up.rest(t).do(t, "GET", "/api/version", "")
	wantREST(t, "the upstream's GET /api/version", code, body, 200, want)
	code, body = down.rest(t).do(t, "GET", "/api/version", "")
	wantREST(t, "the downstream's GET /api/version", code, body, 200, want)
}
