package app_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/upstream"
)

// switchedStore is a real store that can be taken down: while down, every
// read fails as an unreachable store's would.
type switchedStore struct {
	jobs.Store
	down atomic.Bool
}

var errStoreDown = errors.New("store unreachable")

func (s *switchedStore) Get(ctx context.Context, id string) (jobs.Job, error) {
	if s.down.Load() {
		return jobs.Job{}, errStoreDown
	}
	return s.Store.Get(ctx, id)
}

func wantReady(t *testing.T, g *gateway, ready bool, mention string) {
	t.Helper()
	code, body := g.admin(t, "/readyz")
	if ready && code != http.StatusOK {
		t.Fatalf("/readyz answered %d %q, want ready", code, body)
	}
	if !ready && (code != http.StatusServiceUnavailable || !strings.Contains(body, mention)) {
		t.Fatalf("/readyz answered %d %q, want 503 naming %s", code, body, mention)
	}
	want := map[bool]float64{true: 1, false: 0}[ready]
	if s := g.scrape(t); s[`bcpii_ready{component="`+mention+`"}`] != want {
		t.Errorf("bcpii_ready{component=%q} = %v, want %v", mention, s[`bcpii_ready{component="`+mention+`"}`], want)
	}
	if code, _ := g.admin(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz answered %d: the process runs", code)
	}
}

func TestReadyzFollowsTheStore(t *testing.T) {
	var st *switchedStore
	g := startGateway(t, nil, withAdmin, func(c *app.Config) {
		c.WrapStore = func(s jobs.Store) jobs.Store {
			st = &switchedStore{Store: s}
			return st
		}
	})
	wantReady(t, g, true, "store")
	st.down.Store(true)
	wantReady(t, g, false, "store")
	st.down.Store(false)
	wantReady(t, g, true, "store")
}

// TestReadyzFollowsTheUpstream runs the gateway on the hmc backend against
// an HMC that answers Query API Version while up and drops every
// connection while down.
func TestReadyzFollowsTheUpstream(t *testing.T) {
	var down atomic.Bool
	hmc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
		if r.Method == http.MethodGet && r.URL.Path == "/api/version" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"api-major-version":4,"api-minor-version":40,"hmc-name":"hmc","hmc-version":"2.16.0"}`))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(hmc.Close)
	pin := sha256.Sum256(hmc.Certificate().Raw)
	g := startGateway(t, nil, withAdmin, func(c *app.Config) {
		c.Backend = app.BackendHMC
		c.HMCURL = hmc.URL
		c.HMCFingerprint = tlsutil.FormatFingerprint(pin)
		c.HMCCredentials = upstream.Credentials{UserID: "gateway", Password: "gateway-pw"}
	})
	wantReady(t, g, true, "backend")
	down.Store(true)
	wantReady(t, g, false, "backend")
	down.Store(false)
	wantReady(t, g, true, "backend")
	s := g.scrape(t)
	for _, name := range deployMetricNames(t) {
		if strings.HasPrefix(name, "bcpii_upstream_") && !hasFamily(s, name) {
			t.Errorf("deploy/ uses %s, which the gateway does not serve", name)
		}
	}
	if s[`bcpii_upstream_requests_total{kind="other"}`] < 3 || s[`bcpii_upstream_failures_total{}`] < 1 {
		t.Errorf("upstream counts: requests %v, failures %v", s[`bcpii_upstream_requests_total{kind="other"}`], s[`bcpii_upstream_failures_total{}`])
	}
}
