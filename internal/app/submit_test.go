package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

// subResult is one answer of Submit Requests.
type subResult struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers []json.RawMessage `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func (g *gateway) submit(t *testing.T, c *http.Client, hdr http.Header, body string) ([]subResult, answer) {
	t.Helper()
	a := g.rest(t, c, http.MethodPost, "/api/services/aggregation/submit", hdr, body)
	if a.status != http.StatusOK {
		return nil, a
	}
	var out []subResult
	if err := json.Unmarshal(a.body, &out); err != nil {
		t.Fatalf("Submit Requests answer %s: %v", a.body, err)
	}
	return out, a
}

// TestSubmitRequests: Submit Requests answers each sub-request with the
// status and body it gets alone, in order and with its id, as zhmcclient's
// list(full_properties=True) sends them; every sub-request is judged as if
// it came alone from the same caller (target names, BCPii permissions, job
// ownership); and a body the gateway cannot take runs none of its
// sub-requests.
func TestSubmitRequests(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(inv, []byte(reasonsInventory), 0o600); err != nil {
		t.Fatal(err)
	}
	const user, password = "operator", "Submit-Passw0rd-7q"
	g := startGateway(t, nil, func(c *app.Config) {
		c.Inventory = inv
		c.UsersFile = writeUsers(t, map[string]string{user: password})
	})
	rest := g.restClient(t) // the local partition, LP1

	t.Run("as alone, for an API user", func(t *testing.T) {
		a := g.rest(t, rest, http.MethodPost, "/api/sessions", nil, `{"userid":"`+user+`","password":"`+password+`"}`)
		ses := http.Header{"X-Api-Session": {jsonField(t, a.body, "api-session")}}
		body := `{"requests":[{"method":"GET","uri":"/api/cpcs/c1","id":"1"},{"method":"GET","uri":"/api/cpcs/c2","id":"2"},` +
			`{"method":"GET","uri":"/api/cpcs/nope","id":"3"}],"threads":2}`
		out, a := g.submit(t, rest, ses, body)
		if len(out) != 3 {
			t.Fatalf("answer %d %s, want 3 results", a.status, a.body)
		}
		for i, uri := range []string{"/api/cpcs/c1", "/api/cpcs/c2", "/api/cpcs/nope"} {
			alone := g.rest(t, rest, http.MethodGet, uri, ses, "")
			r := out[i]
			if r.ID != string(rune('1'+i)) || r.Status != alone.status || string(r.Body) != string(alone.body) {
				t.Errorf("result %d: id %q, %d %s; alone %d %s", i, r.ID, r.Status, r.Body, alone.status, alone.body)
			}
		}
	})

	t.Run("as alone, for a partition", func(t *testing.T) {
		// LP1 may act on LP2; LP3 accepts no one; a missing target name
		// is the gateway's 400.2; another's job is not found.
		job := jobURIFromBody(t, g.rest(t, rest, http.MethodPost, "/api/logical-partitions/l2/operations/activate",
			http.Header{"X-Api-Target-Name": {lp2}}, ""))
		other := "/api/jobs/0b7e3a52-8f0c-4c5e-9a55-1f4f7d1c2a10"
		body := `{"requests":[` +
			`{"method":"GET","uri":"/api/logical-partitions/l2","id":"a","req-headers":[{"name":"X-API-Target-Name","value":"` + lp2 + `"}]},` +
			`{"method":"GET","uri":"/api/logical-partitions/l3","id":"b","req-headers":[{"name":"X-API-Target-Name","value":"` + lp3 + `"}]},` +
			`{"method":"GET","uri":"/api/logical-partitions/l2","id":"c"},` +
			`{"method":"GET","uri":"` + job + `","id":"d","req-headers":[{"name":"X-API-Target-Name","value":"` + lp2 + `"}]},` +
			`{"method":"GET","uri":"` + other + `","id":"e","req-headers":[{"name":"X-API-Target-Name","value":"` + lp2 + `"}]}]}`
		out, a := g.submit(t, rest, nil, body)
		if len(out) != 5 {
			t.Fatalf("answer %d %s, want 5 results", a.status, a.body)
		}
		want := []struct{ status, reason int }{{200, 0}, {403, 1}, {400, 2}, {200, 0}, {404, 1}}
		for i, w := range want {
			r := out[i]
			if r.Status != w.status {
				t.Errorf("result %s: %d %s, want %d.%d", r.ID, r.Status, r.Body, w.status, w.reason)
				continue
			}
			if w.status != 200 {
				var e hmcError
				if err := json.Unmarshal(r.Body, &e); err != nil || e.HTTPStatus != w.status || e.Reason != w.reason {
					t.Errorf("result %s: body %s, want the HMC error %d.%d", r.ID, r.Body, w.status, w.reason)
				}
			}
		}
		// The same, alone, answers the same.
		alone := g.rest(t, rest, http.MethodGet, "/api/logical-partitions/l3", http.Header{"X-Api-Target-Name": {lp3}}, "")
		if alone.status != out[1].Status || string(alone.body) != string(out[1].Body) {
			t.Errorf("GET of LP3 alone %d %s, submitted %d %s", alone.status, alone.body, out[1].Status, out[1].Body)
		}
	})

	t.Run("refused whole", func(t *testing.T) {
		start := `{"method":"POST","uri":"/api/partitions/p2/operations/stop","id":"s","req-headers":[{"name":"X-API-Target-Name","value":"` + part2 + `"}]}`
		for name, c := range map[string]struct {
			body           string
			status, reason int
		}{
			"not JSON":          {`{"requests":[` + start + `,`, 400, 7},
			"no requests":       {`{"requests":[]}`, 400, 7},
			"requests missing":  {`{"threads":1}`, 400, 5},
			"unknown field":     {`{"requests":[` + start + `],"x":1}`, 400, 6},
			"PUT":               {`{"requests":[` + start + `,{"method":"PUT","uri":"/api/cpcs"}]}`, 400, 7},
			"nested":            {`{"requests":[` + start + `,{"method":"POST","uri":"/api/services/aggregation/submit","body":{"requests":[]}}]}`, 400, 7},
			"event stream":      {`{"requests":[` + start + `,{"method":"GET","uri":"/api/job-completions"}]}`, 400, 7},
			"too many threads":  {`{"requests":[` + start + `],"threads":11}`, 400, 7},
			"too many":          {`{"requests":[` + start + strings.Repeat(`,{"method":"GET","uri":"/api/cpcs"}`, 4000) + `]}`, 400, 7},
			"Accept header":     {`{"requests":[` + start + `],"req-headers":[{"name":"Accept","value":"text/plain"}]}`, 400, 7},
			"unknown sub field": {`{"requests":[` + start + `,{"method":"GET","uri":"/api/cpcs","x":1}]}`, 400, 7},
			"body of a GET":     {`{"requests":[` + start + `,{"method":"GET","uri":"/api/cpcs","body":{}}]}`, 400, 7},
			"not a URI":         {`{"requests":[` + start + `,{"method":"GET","uri":"http://x/api/cpcs"}]}`, 400, 7},
			"too large":         {`{"requests":[` + start + `],"threads":1` + strings.Repeat(" ", 256000) + `}`, 413, 0},
		} {
			out, a := g.submit(t, rest, nil, c.body)
			if out != nil {
				t.Errorf("%s: answered %s", name, a.body)
				continue
			}
			wantRESTError(t, a, c.status, c.reason)
		}
		// The operation in each refused body never ran.
		a := g.rest(t, rest, http.MethodGet, "/api/partitions/p2", http.Header{"X-Api-Target-Name": {part2}}, "")
		if got := jsonField(t, a.body, "status"); got != "active" {
			t.Errorf("PART2 is %s after refused submissions, want active", got)
		}
		// With an unknown session, nothing at all.
		wantRESTError(t, g.rest(t, rest, http.MethodPost, "/api/services/aggregation/submit", http.Header{"X-Api-Session": {"nope"}},
			`{"requests":[`+start+`]}`), 403, 5)
	})
}
