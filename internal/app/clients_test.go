package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// The built-in inventory's ids of CPC1 and LP2.
const (
	cpc1ID = "e199300c-0455-47d9-8c76-3ca3e6646afb"
	lp2ID  = "732b5207-24d8-4994-81dc-c9f05bcd2917"
)

// replay sends requests as a client does and checks each answer.
// zhmcclientSession logs on to a gateway on the built-in inventory as an
// API user and returns a replay that sends zhmcclient's standard headers
// (on every request, GETs included) in that session.
func zhmcclientSession(t *testing.T) *replay {
	t.Helper()
	g := sessionGateway(t, nil)
	c := newSessionClients(t, g)
	logon := c.logonREST(t, sessionUser, sessionPassword)
	if logon.status != 200 {
		t.Fatalf("logon: %d %s", logon.status, logon.body)
	}
	session := jsonField(t, logon.body, "api-session")
	return &replay{t: t, g: g, c: c.rest, hdr: http.Header{"X-Api-Session": {session}, "Accept": {"*/*"},
		"Content-Type": {"application/json"}, "User-Agent": {"python-zhmcclient/1.18.0"}},
		jobs: c.jobs, md: []string{rpctypes.SessionKey, session}}
}

type replay struct {
	t    *testing.T
	g    *gateway
	c    *http.Client
	hdr  http.Header
	jobs bcpiiv1.JobServiceClient
	md   []string // what a gRPC wait carries to see the caller's jobs
}

// do sends one request and checks its status and, unless want is "", its
// exact body; it returns the body.
func (r *replay) do(method, path string, hdr http.Header, body string, status int, want string) []byte {
	r.t.Helper()
	h := http.Header{}
	for k, v := range r.hdr {
		h[k] = v
	}
	for k, v := range hdr {
		h[k] = v
	}
	a := r.g.rest(r.t, r.c, method, path, h, body)
	if a.status != status || want != "" && string(a.body) != want {
		r.t.Fatalf("%s %s: %d %s\nwant %d %s", method, path, a.status, a.body, status, want)
	}
	return a.body
}

// job follows a job as the client polls it: running at first; once the
// simulated SE's three seconds have passed (the gRPC wait only makes sure
// the SE has ended it), complete with want.
func (r *replay) job(jobURI string, hdr http.Header, want string) {
	r.t.Helper()
	r.do(http.MethodGet, jobURI, hdr, "", 200, `{"status":"running"}`)
	r.g.clock.Advance(3 * time.Second)
	id := strings.TrimPrefix(jobURI, "/api/jobs/")
	if _, err := r.jobs.WaitJob(withMD(r.t, r.md...), &bcpiiv1.WaitJobRequest{JobId: id}); err != nil {
		r.t.Fatalf("wait for %s: %v", id, err)
	}
	r.do(http.MethodGet, jobURI, hdr, "", 200, want)
}

func jobURIOf(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		JobURI string `json:"job-uri"`
	}
	if err := json.Unmarshal(body, &v); err != nil || !strings.HasPrefix(v.JobURI, "/api/jobs/") {
		t.Fatalf("no job-uri in %s", body)
	}
	return v.JobURI
}

// TestZhmcclientActivateLoadDeactivate makes the requests zhmcclient's
// Lpar.activate, Lpar.load and Lpar.deactivate make with
// wait_for_completion=True, in their order: the operation, the job polled
// to its end and deleted, then what each reads to wait for the LPAR's
// status (activate first reads the LPAR's image profile to learn whether
// the LPAR ends not-operating or operating), with the bodies zhmcclient
// sends (Python's json.dumps).
func TestZhmcclientActivateLoadDeactivate(t *testing.T) {
	r := zhmcclientSession(t)
	cpc := "/api/cpcs/" + cpc1ID
	lpar := "/api/logical-partitions/" + lp2ID
	lp2Item := func(status string) string {
		return `{"logical-partitions":[{"name":"LP2","object-uri":"` + lpar + `","status":"` + status + `","target-name":"IBM390PS.CPC1.LP2"}]}`
	}

	// client.cpcs.find(name='CPC1') and cpc.lpars.find(name='LP2') fill
	// zhmcclient's name-URI caches from the full lists.
	r.do("GET", "/api/cpcs", nil, "", 200, "")
	r.do("GET", cpc+"/logical-partitions", nil, "", 200, "")

	// lpar.activate(): no profile named, so the LPAR's
	// next-activation-profile-name (LP2) is used.
	job := jobURIOf(t, r.do("POST", lpar+"/operations/activate", nil, "{}", 202, ""))
	r.job(job, nil, `{"job-results":{"message":"Logical partition LP2 activated."},"job-status-code":200,"status":"complete"}`)
	r.do("DELETE", job, nil, "", 204, "")
	profiles := r.do("GET", cpc+"/image-activation-profiles", nil, "", 200, "")
	if !strings.Contains(string(profiles), `{"element-uri":"`+cpc+`/image-activation-profiles/LP2","name":"LP2"}`) {
		t.Fatalf("image profiles %s lack LP2", profiles)
	}
	props := r.do("GET", cpc+"/image-activation-profiles/LP2", nil, "", 200, "")
	var p struct {
		Load *bool  `json:"load-at-activation"`
		Mode string `json:"operating-mode"`
	}
	if err := json.Unmarshal(props, &p); err != nil || p.Load == nil || *p.Load || p.Mode != "general" {
		t.Fatalf("image profile LP2: %s", props)
	}
	// So zhmcclient waits for not-operating, and sees it at once.
	r.do("GET", cpc+"/logical-partitions?name=LP2", nil, "", 200, lp2Item("not-operating"))

	// lpar.load(load_address='0A80')
	job = jobURIOf(t, r.do("POST", lpar+"/operations/load", nil, `{"load-address": "0A80"}`, 202, ""))
	r.job(job, nil, `{"job-results":{"message":"Logical partition LP2 loaded."},"job-status-code":200,"status":"complete"}`)
	r.do("DELETE", job, nil, "", 204, "")
	r.do("GET", cpc+"/logical-partitions?name=LP2", nil, "", 200, lp2Item("operating"))
	r.do("GET", lpar+"?properties=last-used-load-address,last-used-activation-profile", nil, "", 200,
		`{"last-used-activation-profile":"LP2","last-used-load-address":"0A80"}`)

	// lpar.deactivate(force=True): an operating LPAR.
	job = jobURIOf(t, r.do("POST", lpar+"/operations/deactivate", nil, `{"force": true}`, 202, ""))
	r.job(job, nil, `{"job-results":{"message":"Logical partition LP2 deactivated."},"job-status-code":200,"status":"complete"}`)
	r.do("DELETE", job, nil, "", 204, "")
	r.do("GET", cpc+"/logical-partitions?name=LP2", nil, "", 200, lp2Item("not-activated"))

	// The job is gone once deleted.
	wantRESTError(t, r.g.rest(t, r.c, "GET", job, r.hdr, ""), 404, 1)
}

// TestHWIRESTLoadSample replays the z/OS HWIREST LPAR-load sample
// (IBM/zOS-BCPii, RXLOAD1) over the BCPii interface, as the local
// partition LP1: List CPCs by name, its LPARs by name with the CPC's
// target, activate with the LPAR's profile and force, poll the job, load
// with the sample's body, poll, reading exactly the fields the sample
// parses.
func TestHWIRESTLoadSample(t *testing.T) {
	g := startGateway(t, nil) // loopback callers are the local partition LP1
	conn := g.grpcConn(t)
	r := &replay{t: t, g: g, c: g.restClient(t), jobs: bcpiiv1.NewJobServiceClient(conn)}
	field := func(body []byte, list string, names ...string) map[string]string {
		t.Helper()
		var v map[string][]map[string]any
		if err := json.Unmarshal(body, &v); err != nil || len(v[list]) != 1 {
			t.Fatalf("want one entry in %s: %s", list, body)
		}
		out := map[string]string{}
		for _, n := range names {
			s, ok := v[list][0][n].(string)
			if !ok || s == "" {
				t.Fatalf("%s[0] has no %s: %s", list, n, body)
			}
			out[n] = s
		}
		return out
	}

	// GetCpcUri: no target name on List CPCs.
	cpc := field(r.do("GET", "/api/cpcs?name=CPC1", nil, "", 200, ""), "cpcs", "target-name", "object-uri")
	if cpc["target-name"] != cpc1 || cpc["object-uri"] != "/api/cpcs/"+cpc1ID {
		t.Fatalf("CPC %v", cpc)
	}
	// GetLparUri: the CPC's target; the sample activates a not-activated
	// LPAR and loads only a not-operating one.
	cpcTarget := http.Header{"X-Api-Target-Name": {cpc["target-name"]}}
	lpar := field(r.do("GET", cpc["object-uri"]+"/logical-partitions?name=LP2", cpcTarget, "", 200, ""),
		"logical-partitions", "target-name", "object-uri", "status")
	if lpar["target-name"] != lp2 || lpar["status"] != "not-activated" {
		t.Fatalf("LPAR %v", lpar)
	}
	target := http.Header{"X-Api-Target-Name": {lpar["target-name"]}}
	r.md = []string{rpctypes.TargetKey, lpar["target-name"]}

	// IssueLparActivateCommand, then PollJobStatus.
	job := jobURIOf(t, r.do("POST", lpar["object-uri"]+"/operations/activate", target, `{"activation-profile-name":"LP2","force":true}`, 202, ""))
	r.job(job, target, `{"job-results":{"message":"Logical partition LP2 activated."},"job-status-code":200,"status":"complete"}`)

	// IssueLparLoadCommand, then PollJobStatus.
	body := `{"clear-indicator":false, "store-status-indicator":true, "load-address":"0A80", "load-parameter":"0A8201M1" }`
	job = jobURIOf(t, r.do("POST", lpar["object-uri"]+"/operations/load", target, body, 202, ""))
	r.job(job, target, `{"job-results":{"message":"Logical partition LP2 loaded."},"job-status-code":200,"status":"complete"}`)
	lpar = field(r.do("GET", cpc["object-uri"]+"/logical-partitions?name=LP2", cpcTarget, "", 200, ""), "logical-partitions", "status")
	if lpar["status"] != "operating" {
		t.Errorf("LPAR %s after the sample", lpar["status"])
	}
	// HWIREST's C sample reads one property with cached values allowed.
	r.do("GET", "/api/logical-partitions/"+lp2ID+"?properties=status&cached-acceptable=true", target, "", 200, `{"status":"operating"}`)
	// The console names no target, like List CPCs.
	r.do("GET", "/api/console?properties=object-uri", nil, "", 200, `{"object-uri":"/api/console"}`)
}

// TestGolangZhmcclientNewClient makes the requests golang-zhmcclient's
// NewClient makes (Logon, then Create Metrics Context for the
// logical-partition-usage group) and IsLogon(true) after it (Get Console
// Properties, which it takes as logged on when it answers 200), with the
// bodies it sends (encoding/json of its maps).
func TestGolangZhmcclientNewClient(t *testing.T) {
	g := sessionGateway(t, nil)
	c := newSessionClients(t, g)
	logon := c.logonREST(t, sessionUser, sessionPassword)
	if logon.status != 200 {
		t.Fatalf("logon: %d %s", logon.status, logon.body)
	}
	// golang-zhmcclient sends its JSON content type on every request, GETs
	// included.
	r := &replay{t: t, g: g, c: c.rest, hdr: http.Header{"X-Api-Session": {jsonField(t, logon.body, "api-session")}, "Accept": {"*/*"},
		"Content-Type": {"application/json"}}}
	mc := r.do("POST", "/api/services/metrics/context", nil, `{"anticipated-frequency-seconds":15,"metric-groups":["logical-partition-usage"]}`, 200, "")
	var ctx struct {
		URI    string `json:"metrics-context-uri"`
		Groups []struct {
			Name    string            `json:"group-name"`
			Metrics []json.RawMessage `json:"metric-infos"`
		} `json:"metric-group-infos"`
	}
	if err := json.Unmarshal(mc, &ctx); err != nil || !strings.HasPrefix(ctx.URI, "/api/services/metrics/context/") ||
		len(ctx.Groups) != 1 || ctx.Groups[0].Name != "logical-partition-usage" || ctx.Groups[0].Metrics == nil {
		t.Fatalf("metrics context %s", mc)
	}
	console := r.do("GET", "/api/console", nil, "", 200, "")
	var props map[string]any
	if err := json.Unmarshal(console, &props); err != nil || props["object-uri"] != "/api/console" || props["class"] != "console" ||
		props["name"] == "" || props["version"] == nil {
		t.Fatalf("console %s", console)
	}
	r.do("GET", "/api/console?properties=name,version", nil, "", 200, "")
	// Without a session, as golang-zhmcclient's IsLogon sees it after a
	// logoff: 403.4, not 200.
	wantRESTError(t, g.rest(t, c.rest, "GET", "/api/console", nil, ""), 403, 4)
}
