package simse_test

import (
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// threePartitions: A may send and takes commands from anyone; B takes
// them from A only; C may not send and takes them from no one.
const threePartitions = `
cpcs:
  - name: C1
    object-id: c1
    target-name: NET.C1
    status: operating
    logical-partitions:
      - {name: A, object-id: a, status: operating}
      - name: B
        object-id: b
        status: operating
        bcpii-permissions: {send: true, accept: [net.c1.a]}
      - name: C
        object-id: c
        status: operating
        bcpii-permissions: {send: false, accept: none}
`

// TestBCPiiPermissions makes every request of one partition of the three
// on every other (Get Properties, an operation) and on the CPC, and
// checks the SE's answer: 403.1 when the permissions refuse it, the
// request's own answer otherwise. API users are not partitions: the
// permissions do not apply to them.
func TestBCPiiPermissions(t *testing.T) {
	part := func(name string) jobs.Owner { return jobs.Owner{Kind: jobs.PartitionOwner, Name: "NET.C1." + name} }
	tests := []struct {
		from   jobs.Owner
		target string // its object id; "c1" is the CPC, "" List CPCs
		ok     bool
	}{
		{part("A"), "a", true}, {part("A"), "b", true}, {part("A"), "c", false}, {part("A"), "c1", true}, {part("A"), "", true},
		{part("B"), "a", true}, {part("B"), "b", true}, {part("B"), "c", false}, {part("B"), "c1", true},
		{part("C"), "c", true}, {part("C"), "a", false}, {part("C"), "b", false}, {part("C"), "c1", false}, {part("C"), "", false},
		{alice, "c", true}, {alice, "b", true},
	}
	for _, tt := range tests {
		h := newHarness(t, threePartitions)
		uris := []struct{ method, uri string }{{"GET", "/api/cpcs"}}
		switch tt.target {
		case "":
		case "c1":
			uris = []struct{ method, uri string }{{"GET", "/api/cpcs/c1"}, {"GET", "/api/cpcs/c1/logical-partitions"}, {"GET", "/api/cpcs/c1/image-activation-profiles"}}
		default:
			uris = []struct{ method, uri string }{{"GET", "/api/logical-partitions/" + tt.target}, {"POST", lparOp(tt.target, "load")}}
		}
		for _, u := range uris {
			target := ""
			if tt.target != "" {
				target = "NET.C1"
				if tt.target != "c1" {
					target += "." + map[string]string{"a": "A", "b": "B", "c": "C"}[tt.target]
				}
			}
			body := ""
			if u.method == "POST" {
				body = `{"force":true,"load-address":"0100"}`
			}
			resp, err := h.se.Invoke(t.Context(), bcpiiRequest(tt.from, target, u.method, u.uri, body))
			switch {
			case tt.ok && err != nil:
				t.Errorf("%s %s %s: %v, want it permitted", tt.from.Name, u.method, u.uri, err)
			case tt.ok && resp.Status != 200 && resp.Status != 202:
				t.Errorf("%s %s %s = %d", tt.from.Name, u.method, u.uri, resp.Status)
			case !tt.ok:
				checkHMCError(t, err, 403, 1)
			}
		}
	}
}

func bcpiiRequest(owner jobs.Owner, target, method, uri, body string) bcpii.OperationRequest {
	return bcpii.OperationRequest{Principal: principal(owner), Target: targetOf(target), Method: method, URI: uri, Body: []byte(body)}
}

// TestListPermitted: List Permitted Logical Partitions names exactly the
// partitions the caller may act on, by the BCPii permissions: every one
// for an API user; for a partition itself and those that accept it.
func TestListPermitted(t *testing.T) {
	h := newHarness(t, threePartitions)
	part := func(name string) jobs.Owner { return jobs.Owner{Kind: jobs.PartitionOwner, Name: "NET.C1." + name} }
	names := func(owner jobs.Owner, query string) []string {
		t.Helper()
		m := h.getJSON(owner, "/api/console/operations/list-permitted-logical-partitions"+query)
		var out []string
		for _, e := range m["logical-partitions"].([]any) {
			item := e.(map[string]any)
			if item["cpc-name"] != "C1" || item["cpc-object-uri"] != "/api/cpcs/c1" || item["se-version"] == nil {
				t.Errorf("entry %v", item)
			}
			out = append(out, item["name"].(string))
		}
		return out
	}
	for _, c := range []struct {
		owner jobs.Owner
		query string
		want  string
	}{
		{alice, "", "A B C"},
		{part("A"), "", "A B"}, // C accepts no one
		{part("B"), "", "A B"}, // A accepts anyone; C no one
		{alice, "?name=[AB]&cpc-name=C.*", "A B"},
		{alice, "?cpc-name=X.*", ""},
		{alice, "?status=operating&activation-mode=not-set", ""},
	} {
		if got := strings.Join(names(c.owner, c.query), " "); got != c.want {
			t.Errorf("%s%s sees %q, want %q", c.owner.Name, c.query, got, c.want)
		}
	}
	// C may send no BCPii command at all, this one included.
	_, err := h.invoke(part("C"), "GET", "/api/console/operations/list-permitted-logical-partitions", "")
	checkHMCError(t, err, 403, 1)
	// A partition's entries say which is itself and name their targets.
	m := h.getJSON(part("A"), "/api/console/operations/list-permitted-logical-partitions?name=A&additional-properties=initial-processing-weight")
	a := m["logical-partitions"].([]any)[0].(map[string]any)
	if a["request-origin"] != true || a["target-name"] != "NET.C1.A" || a["initial-processing-weight"] != 10.0 {
		t.Errorf("A's own entry %v", a)
	}
	if got := h.getJSON(alice, "/api/console/operations/list-permitted-partitions")["partitions"].([]any); len(got) != 0 {
		t.Errorf("permitted partitions of a classic-only inventory: %v", got)
	}
	if got := h.getJSON(alice, "/api/console/operations/list-unmanaged-cpcs")["cpcs"].([]any); len(got) != 0 {
		t.Errorf("unmanaged CPCs: %v", got)
	}
}
