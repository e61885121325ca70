package upstream_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
)

// The request sequences of IBM's Ansible collection ibm.ibm_zhmc, module by
// module, as it makes them through zhmcclient (read off their public
// source, never copied): each step's method and URI, its body, the status
// it must get, and the properties the module reads without a default
// (a missing one is a KeyError, and the module fails). They run against
// the simulated SE and against a gateway whose upstream is another
// gateway, as an API user with a session, as the collection logs on.

// replay runs the sequences against a gateway.
type replay struct {
	t       *testing.T
	rest    *restClient
	session string
	// advance ends the simulated SE's running jobs (its clock).
	advance func()
	// ids are the object URIs by name, found by the first listings.
	uris map[string]string
}

// do makes one request with the session and checks the status; it
// returns the answer as JSON.
func (r *replay) do(method, path, body string, want int) any {
	r.t.Helper()
	var hdr []string
	if r.session != "" {
		hdr = []string{"X-API-Session", r.session}
	}
	code, text := r.rest.do(r.t, method, path, body, hdr...)
	if code != want {
		r.t.Fatalf("%s %s: %d %s, want %d", method, path, code, text, want)
	}
	if text == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		r.t.Fatalf("%s %s: %s: %v", method, path, text, err)
	}
	return v
}

// read checks that obj has each key, as the module indexes it.
func (r *replay) read(what string, obj any, keys ...string) map[string]any {
	r.t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		r.t.Fatalf("%s is %T, not an object", what, obj)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			r.t.Errorf("%s has no %q, which the module reads: %v", what, k, m)
		}
	}
	return m
}

// list reads the list member of a listing and checks each item's keys.
func (r *replay) list(what string, v any, member string, keys ...string) []map[string]any {
	r.t.Helper()
	items, ok := r.read(what, v, member)[member].([]any)
	if !ok {
		r.t.Fatalf("%s: %s is no array", what, member)
	}
	var out []map[string]any
	for i, it := range items {
		out = append(out, r.read(fmt.Sprintf("%s[%d]", what, i), it, keys...))
	}
	return out
}

// logon and logoff are how every module begins and ends.
func (r *replay) logon(user, password string) {
	r.t.Helper()
	ses := r.read("logon answer", r.do("POST", "/api/sessions", fmt.Sprintf(`{"userid":%q,"password":%q}`, user, password), 200),
		"api-session", "session-credential", "notification-topic", "job-notification-topic", "api-major-version", "api-minor-version")
	r.session = ses["api-session"].(string)
}

func (r *replay) logoff() {
	r.t.Helper()
	r.do("DELETE", "/api/sessions/this-session", "", 204)
	r.session = ""
}

// version is Client.query_api_version as the modules parse it: the
// hmc-version's parts as integers, 2.14 or later for the permitted lists.
func (r *replay) version() {
	r.t.Helper()
	saved := r.session
	r.session = ""
	v := r.read("API version", r.do("GET", "/api/version", "", 200), "hmc-name", "hmc-version", "api-major-version", "api-minor-version")
	r.session = saved
	var parts []int
	for _, p := range strings.Split(v["hmc-version"].(string), ".") {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil {
			r.t.Fatalf("hmc-version %v does not parse as integers", v["hmc-version"])
		}
		parts = append(parts, n)
	}
	if len(parts) != 3 || slices.Compare(parts, []int{2, 14, 0}) < 0 {
		r.t.Fatalf("hmc-version %v: the modules would not use the permitted lists", parts)
	}
}

// job follows an operation's job as zhmcclient's wait_for_completion does:
// query until complete, delete the status, read job-status-code.
func (r *replay) job(v any) {
	r.t.Helper()
	uri := r.read("202 answer", v, "job-uri")["job-uri"].(string)
	r.advance()
	deadline := time.Now().Add(waitLimit)
	for {
		j := r.read("job", r.do("GET", uri, "", 200), "status")
		if j["status"] == "complete" {
			r.read("completed job", j, "job-status-code")
			if code := j["job-status-code"].(float64); code != 200 && code != 204 {
				r.t.Fatalf("job %s ended %v: %v", uri, code, j)
			}
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("job %s did not complete: %v", uri, j)
		}
		time.Sleep(20 * time.Millisecond) // the downstream polls its upstream
	}
	r.do("DELETE", uri, "", 204)
}

// status is pull_lpar_status / pull_partition_status: the CPC's list
// filtered by the name, exactly one entry, its status.
func (r *replay) status(cpc, list, name string) string {
	r.t.Helper()
	items := r.list(list+" of "+name, r.do("GET", r.uris[cpc]+"/"+list+"?name="+url.QueryEscape(name), "", 200), list, "status")
	if len(items) != 1 {
		r.t.Fatalf("%s?name=%s: %d entries", list, name, len(items))
	}
	return items[0]["status"].(string)
}

// find is Manager.find(name=...): the unfiltered list, the entry of name.
func (r *replay) find(path, member, name string) string {
	r.t.Helper()
	key := "object-uri"
	if strings.HasSuffix(member, "-profiles") {
		key = "element-uri"
	}
	for _, it := range r.list(path, r.do("GET", path, "", 200), member, key, "name") {
		if it["name"] == name {
			r.uris[name] = it[key].(string)
			return r.uris[name]
		}
	}
	r.t.Fatalf("%s lists no %s", path, name)
	return ""
}

func (r *replay) run(user, password string) {
	parent := r.t
	defer func() { r.t = parent }()
	step := func(name string, f func(t *testing.T)) {
		parent.Run(name, func(t *testing.T) {
			r.t = t
			f(t)
		})
	}
	cpcKeys := []string{"name", "status", "has-unacceptable-status", "dpm-enabled", "se-version"}

	step("zhmc_session", func(t *testing.T) {
		r.logon(user, password)
		r.logoff()
	})
	step("zhmc_versions", func(t *testing.T) {
		r.version()
		r.logon(user, password)
		if f, ok := r.do("GET", "/api/console/operations/list-features", "", 200).([]any); !ok || len(f) != 0 {
			t.Errorf("console API features %v, want an empty array", f)
		}
		for _, c := range r.list("CPCs", r.do("GET", "/api/cpcs", "", 200), "cpcs", append(cpcKeys, "object-uri")...) {
			r.do("GET", c["object-uri"].(string)+"/operations/list-features", "", 200)
		}
		r.logoff()
	})
	step("zhmc_cpc_list", func(t *testing.T) {
		r.logon(user, password)
		cpcs := r.list("CPCs", r.do("GET", "/api/cpcs", "", 200), "cpcs", "object-uri", "name")
		// full_properties: one Submit Requests of every CPC's GET.
		var reqs []string
		for i, c := range cpcs {
			reqs = append(reqs, fmt.Sprintf(`{"method":"GET","uri":%q,"id":"%d"}`, c["object-uri"], i+1))
		}
		res, ok := r.do("POST", "/api/services/aggregation/submit", `{"requests":[`+strings.Join(reqs, ",")+`],"threads":1}`, 200).([]any)
		if !ok || len(res) != len(cpcs) {
			t.Fatalf("Submit Requests answered %v", res)
		}
		for i, it := range res {
			sub := r.read("sub-answer", it, "id", "status", "body")
			if sub["status"] != 200.0 || sub["id"] != fmt.Sprint(i+1) {
				t.Fatalf("sub-answer %v", sub)
			}
			r.read("CPC full properties", sub["body"], append(cpcKeys, "description", "machine-type", "machine-model")...)
		}
		r.logoff()
	})
	step("zhmc_cpc facts", func(t *testing.T) {
		r.logon(user, password)
		for _, name := range []string{"CPC1", "CPC2"} {
			uri := r.find("/api/cpcs", "cpcs", name)
			r.read(name, r.do("GET", uri, "", 200), append(cpcKeys, "description")...)
			r.list(name+" partitions", r.do("GET", uri+"/partitions", "", 200), "partitions", "object-uri", "name", "status", "type")
			r.list(name+" adapters", r.do("GET", uri+"/adapters", "", 200), "adapters",
				"object-uri", "name", "adapter-id", "adapter-family", "type", "status")
			r.list(name+" storage groups", r.do("GET", "/api/storage-groups?cpc-uri="+url.QueryEscape(uri), "", 200), "storage-groups",
				"object-uri", "cpc-uri", "name", "fulfillment-state", "type")
		}
		r.logoff()
	})
	step("zhmc_lpar_list", func(t *testing.T) {
		r.version()
		r.logon(user, password)
		items := r.list("permitted LPARs", r.do("GET", "/api/console/operations/list-permitted-logical-partitions?additional-properties=description", "", 200),
			"logical-partitions", "cpc-object-uri", "cpc-name", "object-uri", "se-version", "description")
		if len(items) != 3 {
			t.Errorf("%d permitted LPARs", len(items))
		}
		r.logoff()
	})
	step("zhmc_lpar facts, active, loaded, inactive", func(t *testing.T) {
		r.logon(user, password)
		cpc := r.find("/api/cpcs", "cpcs", "CPC1")
		lp2 := r.find(cpc+"/logical-partitions", "logical-partitions", "LP2")
		r.read("LP2", r.do("GET", lp2, "", 200), "name", "status", "object-uri")
		// active: LP2 is not activated; activate, then the target status
		// from the image profile named like the LPAR.
		if s := r.status("CPC1", "logical-partitions", "LP2"); s != "not-activated" {
			t.Fatalf("LP2 %s", s)
		}
		r.job(r.do("POST", lp2+"/operations/activate", "{}", 202))
		r.find(cpc+"/image-activation-profiles", "image-activation-profiles", "LP2")
		r.read("image profile", r.do("GET", cpc+"/image-activation-profiles/LP2", "", 200), "load-at-activation", "operating-mode")
		if s := r.status("CPC1", "logical-partitions", "LP2"); s != "not-operating" {
			t.Fatalf("LP2 %s after activation", s)
		}
		r.do("GET", lp2, "", 200)
		r.do("POST", lp2, `{"acceptable-status":["operating","not-operating"]}`, 204)
		// loaded
		r.job(r.do("POST", lp2+"/operations/load", "{}", 202))
		if s := r.status("CPC1", "logical-partitions", "LP2"); s != "operating" {
			t.Fatalf("LP2 %s after load", s)
		}
		// inactive
		r.job(r.do("POST", lp2+"/operations/deactivate", `{"force":true}`, 202))
		if s := r.status("CPC1", "logical-partitions", "LP2"); s != "not-activated" {
			t.Fatalf("LP2 %s after deactivation", s)
		}
		r.logoff()
	})
	step("zhmc_partition_list", func(t *testing.T) {
		r.version()
		r.logon(user, password)
		r.list("permitted partitions", r.do("GET", "/api/console/operations/list-permitted-partitions", "", 200),
			"partitions", "cpc-object-uri", "cpc-name", "object-uri", "se-version")
		r.logoff()
	})
	step("zhmc_partition facts, active, stopped", func(t *testing.T) {
		r.logon(user, password)
		cpc := r.find("/api/cpcs", "cpcs", "CPC2")
		part := r.find(cpc+"/partitions", "partitions", "PART1")
		facts := r.read("PART1", r.do("GET", part, "", 200), "hba-uris", "nic-uris", "virtual-function-uris", "boot-storage-volume",
			"storage-group-uris", "crypto-configuration", "status")
		for _, list := range []string{"hba-uris", "nic-uris", "virtual-function-uris"} {
			for _, u := range facts[list].([]any) {
				r.do("GET", u.(string), "", 200)
			}
		}
		if s := r.status("CPC2", "partitions", "PART1"); s != "stopped" {
			t.Fatalf("PART1 %s", s)
		}
		r.job(r.do("POST", part+"/operations/start", "", 202))
		if s := r.status("CPC2", "partitions", "PART1"); s != "active" {
			t.Fatalf("PART1 %s after start", s)
		}
		r.read("PART1", r.do("GET", part, "", 200), "status")
		r.job(r.do("POST", part+"/operations/stop", "", 202))
		if s := r.status("CPC2", "partitions", "PART1"); s != "stopped" {
			t.Fatalf("PART1 %s after stop", s)
		}
		r.logoff()
	})
}

// TestAnsibleCollectionSequences replays the collection's sequences on the
// simulated SE (a gateway of its own), then through a gateway whose
// upstream is another gateway.
func TestAnsibleCollectionSequences(t *testing.T) {
	t.Run("simulated SE", func(t *testing.T) {
		up := startUpstream(t, "")
		r := &replay{t: t, rest: up.rest(t), uris: map[string]string{}, advance: func() { up.clock.Advance(3 * time.Second) }}
		r.run(gwUser, gwPassword)
	})
	t.Run("through an upstream gateway", func(t *testing.T) {
		up := startUpstream(t, "")
		down := startDownstream(t, up.url(), clock.Real{}, 20*time.Millisecond, func(c *app.Config) {
			c.HMCCAFile = filepath.Join(up.cfg.DataDir, "tls", "gateway.crt")
		})
		r := &replay{t: t, rest: down.rest(t), uris: map[string]string{}, advance: func() { up.clock.Advance(3 * time.Second) }}
		r.run(aliceUser, alicePassword)
	})
}
