package bcpii

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// TestMatchRoute matches a request of every route, and checks what the
// table says of it.
func TestMatchRoute(t *testing.T) {
	const (
		lpar = KindLogicalPartition
		part = KindPartition
	)
	props := []string{"properties", "cached-acceptable"}
	name := []string{"name"}
	c1 := Object{KindCPC, "c1"}
	tests := []struct {
		method, uri string
		name        string
		kind        string
		list        bool
		action      string
		object      Object
		target      TargetRule
		cancelable  bool
		query       []string
		element     string
	}{
		{"GET", "/api/version", "Query API Version", "", false, "", Object{}, TargetNone, false, nil, ""},
		{"GET", "/api/cpcs", "List CPC Objects", KindCPC, true, "", Object{}, TargetNone, false, []string{"name"}, ""},
		{"GET", "/api/cpcs?name=CPC.*", "List CPC Objects", KindCPC, true, "", Object{}, TargetNone, false, []string{"name"}, ""},
		{"GET", "/api/cpcs/c1", "Get CPC Properties", KindCPC, false, "", Object{KindCPC, "c1"}, TargetCPC, false, props, ""},
		{"GET", "/api/console", "Get Console Properties", KindConsole, false, "", Object{}, TargetNone, false, props, ""},
		{"POST", "/api/services/metrics/context", "Create Metrics Context", KindConsole, false, "", Object{}, TargetNone, false, nil, ""},
		{"GET", "/api/cpcs/c1/image-activation-profiles?name=LP1", "List Image Activation Profiles", KindImageProfile, true, "", c1, TargetCPC, false, []string{"name", "additional-properties"}, ""},
		{"GET", "/api/cpcs/c1/image-activation-profiles/LP1", "Get Image Activation Profile Properties", KindImageProfile, false, "", c1, TargetCPC, false, props, "LP1"},
		{"GET", "/api/cpcs/c1/load-activation-profiles", "List Load Activation Profiles", KindLoadProfile, true, "", c1, TargetCPC, false, name, ""},
		{"GET", "/api/cpcs/c1/load-activation-profiles/ZOS", "Get Load Activation Profile Properties", KindLoadProfile, false, "", c1, TargetCPC, false, props, "ZOS"},
		{"GET", "/api/cpcs/c1/reset-activation-profiles", "List Reset Activation Profiles", KindResetProfile, true, "", c1, TargetCPC, false, name, ""},
		{"GET", "/api/cpcs/c1/reset-activation-profiles/DEFAULT", "Get Reset Activation Profile Properties", KindResetProfile, false, "", c1, TargetCPC, false, props, "DEFAULT"},
		{"POST", "/api/logical-partitions/l1/operations/stop", "Stop Logical Partition", lpar, false, "stop", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/start", "Start Logical Partition", lpar, false, "start", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/reset-normal", "Reset Normal", lpar, false, "reset-normal", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/reset-clear", "Reset Clear", lpar, false, "reset-clear", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/psw-restart", "PSW Restart", lpar, false, "psw-restart", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"GET", "/api/cpcs/c1/logical-partitions", "List Logical Partitions of CPC", lpar, true, "", Object{KindCPC, "c1"}, TargetCPC, false, []string{"name", "additional-properties"}, ""},
		{"GET", "/api/cpcs/c1/partitions?name=P", "List Partitions of a CPC", part, true, "", Object{KindCPC, "c1"}, TargetCPC, false, []string{"name", "status", "type", "additional-properties"}, ""},
		{"GET", "/api/console/operations/list-permitted-logical-partitions?cpc-name=CPC1", "List Permitted Logical Partitions", lpar, true, "", Object{}, TargetNone, false, []string{"name", "cpc-name", "activation-mode", "status", "has-unacceptable-status", "additional-properties"}, ""},
		{"GET", "/api/console/operations/list-permitted-partitions", "List Permitted Partitions", part, true, "", Object{}, TargetNone, false, []string{"name", "cpc-name", "type", "status", "has-unacceptable-status", "additional-properties"}, ""},
		{"GET", "/api/console/operations/list-unmanaged-cpcs", "List Unmanaged CPCs", KindCPC, true, "", Object{}, TargetNone, false, name, ""},
		{"GET", "/api/console/operations/list-features?name=a.*", "List Console API Features", KindConsole, true, "", Object{}, TargetNone, false, name, ""},
		{"GET", "/api/cpcs/c1/operations/list-features", "List CPC API Features", KindCPC, true, "", c1, TargetCPC, false, name, ""},
		{"POST", "/api/cpcs/c1", "Update CPC Properties", KindCPC, false, "", c1, TargetCPC, false, nil, ""},
		{"GET", "/api/cpcs/c1/capacity-records", "List Capacity Records", KindCapacityRecord, true, "", c1, TargetCPC, false, nil, ""},
		{"GET", "/api/cpcs/c1/capacity-records/OOCOD01", "Get Capacity Record Properties", KindCapacityRecord, false, "", c1, TargetCPC, false, props, "OOCOD01"},
		{"POST", "/api/cpcs/c1/operations/add-temp-capacity", "Add Temporary Capacity", KindCPC, false, "", c1, TargetCPC, false, nil, ""},
		{"POST", "/api/cpcs/c1/operations/remove-temp-capacity", "Remove Temporary Capacity", KindCPC, false, "", c1, TargetCPC, false, nil, ""},
		{"GET", "/api/cpcs/c1/adapters", "List Adapters of a CPC", KindAdapter, true, "", c1, TargetCPC, false, []string{"name", "adapter-id", "adapter-family", "type", "status", "additional-properties"}, ""},
		{"GET", "/api/adapters/a1", "Get Adapter Properties", KindAdapter, false, "", Object{KindAdapter, "a1"}, TargetCPC, false, props, ""},
		{"GET", "/api/cpcs/c1/virtual-switches", "List Virtual Switches of a CPC", KindVirtualSwitch, true, "", c1, TargetCPC, false, []string{"name", "type", "additional-properties"}, ""},
		{"GET", "/api/virtual-switches/v1", "Get Virtual Switch Properties", KindVirtualSwitch, false, "", Object{KindVirtualSwitch, "v1"}, TargetCPC, false, props, ""},
		{"GET", "/api/storage-groups?cpc-uri=%2Fapi%2Fcpcs%2Fc1", "List Storage Groups", KindStorageGroup, true, "", Object{}, TargetNone, false, []string{"cpc-uri", "name", "fulfillment-state", "type"}, ""},
		{"GET", "/api/storage-groups/s1", "Get Storage Group Properties", KindStorageGroup, false, "", Object{KindStorageGroup, "s1"}, TargetCPC, false, props, ""},
		{"POST", "/api/cpcs/c1/image-activation-profiles/LP1", "Update Image Activation Profile Properties", KindImageProfile, false, "", c1, TargetCPC, false, nil, "LP1"},
		{"POST", "/api/cpcs/c1/load-activation-profiles/ZOS", "Update Load Activation Profile Properties", KindLoadProfile, false, "", c1, TargetCPC, false, nil, "ZOS"},
		{"POST", "/api/cpcs/c1/reset-activation-profiles/DEFAULT", "Update Reset Activation Profile Properties", KindResetProfile, false, "", c1, TargetCPC, false, nil, "DEFAULT"},
		{"POST", "/api/logical-partitions/l1", "Update Logical Partition Properties", lpar, false, "", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"GET", "/api/logical-partitions/l1/operations/list-os-messages?max-messages=5", "List OS Messages of a Logical Partition", lpar, false, "", Object{lpar, "l1"}, TargetPartition, false, []string{"begin-sequence-number", "end-sequence-number", "is-held", "is-priority", "max-messages"}, ""},
		{"POST", "/api/logical-partitions/l1/operations/send-os-cmd", "Send OS Command", lpar, false, "", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/open-os-message-channel", "Open OS Message Channel", lpar, false, "", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"GET", "/api/partitions/p1/operations/list-os-messages", "List OS Messages of a Partition", part, false, "", Object{part, "p1"}, TargetPartition, false, []string{"begin-sequence-number", "end-sequence-number", "is-held", "is-priority", "max-messages"}, ""},
		{"POST", "/api/partitions/p1/operations/send-os-cmd", "Send OS Command", part, false, "", Object{part, "p1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/partitions/p1/operations/open-os-message-channel", "Open OS Message Channel", part, false, "", Object{part, "p1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/scsi-load", "SCSI Load", lpar, false, "scsi-load", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/scsi-dump", "SCSI Dump", lpar, false, "scsi-dump", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/nvme-dump", "NVMe Dump", lpar, false, "nvme-dump", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/nvme-load", "NVMe Load", lpar, false, "nvme-load", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"GET", "/api/partitions/p1/nics/n1", "Get NIC Properties", KindNIC, false, "", Object{part, "p1"}, TargetPartition, false, props, "n1"},
		{"GET", "/api/partitions/p1/hbas/h1", "Get HBA Properties", KindHBA, false, "", Object{part, "p1"}, TargetPartition, false, props, "h1"},
		{"GET", "/api/partitions/p1/virtual-functions/v1", "Get Virtual Function Properties", KindVirtualFunction, false, "", Object{part, "p1"}, TargetPartition, false, props, "v1"},
		{"GET", "/api/logical-partitions/l1", "Get Logical Partition Properties", lpar, false, "", Object{lpar, "l1"}, TargetPartition, false, props, ""},
		{"GET", "/api/partitions/p1", "Get Partition Properties", part, false, "", Object{part, "p1"}, TargetPartition, false, props, ""},
		{"POST", "/api/logical-partitions/l1/operations/activate", "Activate Logical Partition", lpar, false, "activate", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/deactivate", "Deactivate Logical Partition", lpar, false, "deactivate", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/logical-partitions/l1/operations/load", "Load Logical Partition", lpar, false, "load", Object{lpar, "l1"}, TargetPartition, false, nil, ""},
		{"POST", "/api/partitions/p1/operations/start", "Start Partition", part, false, "start", Object{part, "p1"}, TargetPartition, true, nil, ""},
		{"POST", "/api/partitions/p1/operations/stop", "Stop Partition", part, false, "stop", Object{part, "p1"}, TargetPartition, true, nil, ""},
		{"POST", "/api/cpcs/c1/operations/start", "Start CPC", KindCPC, false, "start", Object{KindCPC, "c1"}, TargetCPC, false, nil, ""},
		{"POST", "/api/cpcs/c1/operations/stop", "Stop CPC", KindCPC, false, "stop", Object{KindCPC, "c1"}, TargetCPC, false, nil, ""},
		// Ids are matched as received, escaped or not.
		{"GET", "/api/cpcs/%41%2F", "Get CPC Properties", KindCPC, false, "", Object{KindCPC, "%41%2F"}, TargetCPC, false, props, ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		m, err := MatchRoute(tt.method, tt.uri)
		if err != nil {
			t.Errorf("MatchRoute(%s %s): %v", tt.method, tt.uri, err)
			continue
		}
		r := m.Route
		seen[r.Method+" "+r.Pattern] = true
		if r.Method != tt.method || r.Name != tt.name || r.Kind != tt.kind || r.List != tt.list || r.Action != tt.action ||
			r.Target != tt.target || r.Cancelable != tt.cancelable || !slices.Equal(r.Query, tt.query) || m.Object != tt.object || m.Element != tt.element {
			t.Errorf("MatchRoute(%s %s) = %+v", tt.method, tt.uri, m)
		}
		_, wantQuery, _ := strings.Cut(tt.uri, "?")
		if m.Query != wantQuery {
			t.Errorf("MatchRoute(%s %s) query %q", tt.method, tt.uri, m.Query)
		}
		if obj, ok := Addressed(tt.uri); obj != m.Object || ok != !m.Object.IsZero() {
			t.Errorf("Addressed(%s) = %+v %v, the match addresses %+v", tt.uri, obj, ok, m.Object)
		}
	}
	for _, r := range Routes() {
		if !seen[r.Method+" "+r.Pattern] {
			t.Errorf("route %s %s is not tested", r.Method, r.Pattern)
		}
	}
}

// TestMatchRouteRefuses answers unknown paths with 404.1 whatever the
// method, and known ones with another method with 405.0.
func TestMatchRouteRefuses(t *testing.T) {
	notFound := []string{
		"", "/", "/api", "/api/", "api/cpcs", "/api/cpcs/", "/api//cpcs", "/api/cpcs//logical-partitions",
		"/api/cpcs/c1/", "/api/cpcs/c1/anything", "/api/cpcs/c1/operations", "/api/cpcs/c1/operations/",
		"/api/cpcs/c1/operations/activate", "/api/logical-partitions", "/api/partitions",
		"/api/logical-partitions/l1/operations/ipl", "/api/partitions/p1/operations/load",
		"/api/cpcs/c1/image-activation-profiles/", "/api/cpcs/c1/image-activation-profiles/LP1/x", "/api/console/x",
		"/api/logical-partitions/l1/partitions", "/api/jobs/x", "/api/sessions", "/api/users/u1",
		"/API/cpcs", "/api/CPCS", "/api/cpcs/c1/operations/START", "/api/version/", "/api/version/x",
		"/api/%63pcs", "/api/cpcs/c1/logical-partitions/l1", "/x/api/cpcs",
	}
	for _, uri := range notFound {
		for _, method := range []string{"GET", "POST", "PUT", "DELETE", "get"} {
			if m, err := MatchRoute(method, uri); !errors.Is(err, hmcerr.ErrNotFound) {
				t.Errorf("MatchRoute(%s %q) = %+v, %v; want 404.1", method, uri, m, err)
			}
		}
	}
	wrongMethod := []struct{ method, uri string }{
		{"POST", "/api/version"}, {"DELETE", "/api/cpcs"}, {"PUT", "/api/cpcs/c1"}, {"post", "/api/cpcs/c1"},
		{"POST", "/api/cpcs/c1/logical-partitions"}, {"DELETE", "/api/partitions/p1"},
		{"GET", "/api/logical-partitions/l1/operations/activate"}, {"GET", "/api/partitions/p1/operations/stop?x=1"},
		{"PUT", "/api/cpcs/c1/operations/start"}, {"", "/api/cpcs"},
	}
	for _, tt := range wrongMethod {
		if m, err := MatchRoute(tt.method, tt.uri); !errors.Is(err, hmcerr.ErrMethodNotAllowed) {
			t.Errorf("MatchRoute(%s %q) = %+v, %v; want 405.0", tt.method, tt.uri, m, err)
		}
	}
}

// TestMatchOperation leaves out Query API Version, which the gateway
// answers itself, and matches the other routes as MatchRoute does.
func TestMatchOperation(t *testing.T) {
	for _, method := range []string{"GET", "POST", "PUT"} {
		if m, err := MatchOperation(method, "/api/version"); !errors.Is(err, hmcerr.ErrNotFound) {
			t.Errorf("MatchOperation(%s /api/version) = %+v, %v; want 404.1", method, m, err)
		}
	}
	for _, r := range Routes() {
		uri := strings.Replace(r.Pattern, "{id}", "x1", 1)
		m, err := MatchOperation(r.Method, uri)
		switch {
		case r.Kind == "":
		case err != nil || m.Route.Pattern != r.Pattern || m.Route.Method != r.Method:
			t.Errorf("MatchOperation(%s %s) = %+v, %v", r.Method, uri, m, err)
		}
	}
	if _, err := MatchOperation("PUT", "/api/cpcs"); !errors.Is(err, hmcerr.ErrMethodNotAllowed) {
		t.Errorf("MatchOperation(PUT /api/cpcs): %v; want 405.0", err)
	}
}

// TestCheckTarget applies the target rule of every route.
func TestCheckTarget(t *testing.T) {
	cpc := mustTarget(t, "IBM390PS.CPC1")
	lp1 := mustTarget(t, "IBM390PS.CPC1.LP1")
	objects := map[string]TargetName{
		"/api/cpcs/c1":               cpc,
		"/api/logical-partitions/l1": lp1,
		"/api/partitions/p1":         mustTarget(t, "IBM390PS.CPC1.P1"),
		// The CPC's objects are named by the CPC.
		"/api/adapters/c1":         cpc,
		"/api/storage-groups/c1":   cpc,
		"/api/virtual-switches/c1": cpc,
		// A resolver that gets the kind wrong is not believed.
		"/api/cpcs/bad":               lp1,
		"/api/logical-partitions/bad": cpc,
		"/api/partitions/bad":         cpc,
		"/api/adapters/bad":           lp1,
		"/api/storage-groups/bad":     lp1,
		"/api/virtual-switches/bad":   lp1,
	}
	resolve := func(uri string) (TargetName, bool) { t, ok := objects[uri]; return t, ok }
	uri := func(r Route, id string) string { return strings.Replace(r.Pattern, "{id}", id, 1) }
	for _, r := range Routes() {
		switch r.Target {
		case TargetNone:
			m := mustMatch(t, r.Method, uri(r, ""))
			for _, h := range []string{"", "junk", lp1.String()} {
				if got, err := m.CheckTarget(h, h != "", resolve); err != nil || !got.IsZero() {
					t.Errorf("%s %s with %q = %v, %v; want no target", r.Method, r.Pattern, h, got, err)
				}
			}
			continue
		case TargetCPC, TargetPartition:
		default:
			t.Fatalf("%s %s has no target rule", r.Method, r.Pattern)
		}
		id := "c1"
		switch {
		case strings.HasPrefix(r.Pattern, "/api/logical-partitions/"):
			id = "l1"
		case strings.HasPrefix(r.Pattern, "/api/partitions/"):
			id = "p1"
		}
		m := mustMatch(t, r.Method, uri(r, id))
		own := objects[m.Object.URI()]
		if got, err := m.CheckTarget(strings.ToLower(own.String()), true, resolve); err != nil || got != own {
			t.Errorf("%s %s naming its object: %v, %v", r.Method, r.Pattern, got, err)
		}
		wrong := []string{"", "IBM390PS..X", "IBM390PS.CPC2", "IBM390PS.CPC2.LP1", cpc.String()}
		if r.Target == TargetCPC {
			wrong[len(wrong)-1] = lp1.String() // a partition of the CPC
		}
		for _, h := range wrong {
			if _, err := m.CheckTarget(h, h != "", resolve); !errors.Is(err, hmcerr.ErrBadTargetName) {
				t.Errorf("%s %s naming %q: %v; want 400.2", r.Method, r.Pattern, h, err)
			}
		}
		// An object the resolver does not know is the backend's 404.1.
		if got, err := mustMatch(t, r.Method, uri(r, "nosuch")).CheckTarget("", false, resolve); err != nil || !got.IsZero() {
			t.Errorf("%s %s of an unknown object: %v, %v", r.Method, r.Pattern, got, err)
		}
		bad := mustMatch(t, r.Method, uri(r, "bad"))
		if _, err := bad.CheckTarget(objects[bad.Object.URI()].String(), true, resolve); !errors.Is(err, hmcerr.ErrBadTargetName) {
			t.Errorf("%s %s resolved to the wrong kind: %v", r.Method, r.Pattern, err)
		}
	}
	if _, err := (Match{}).CheckTarget(lp1.String(), true, resolve); !errors.Is(err, hmcerr.ErrBadTargetName) {
		t.Errorf("a route without a rule: %v", err)
	}
}

// TestRouteTable keeps the table consistent: patterns distinct, every
// route with a rule, operations POST and queries GET, and the table of
// actions by kind.
func TestRouteTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes() {
		key := r.Method + " " + r.Pattern
		if seen[key] {
			t.Errorf("%s is in the table twice", key)
		}
		seen[key] = true
		if r.Target < TargetNone || r.Target > TargetPartition {
			t.Errorf("%s has no target rule", key)
		}
		if (r.Action != "") != (r.Method == "POST" && r.Kind != KindConsole && !r.Sync) || r.Action != "" && !strings.HasSuffix(r.Pattern, "/operations/"+r.Action) ||
			r.Sync && (r.Method != "POST" || r.Action != "") {
			t.Errorf("%s: action %q", key, r.Action)
		}
		getProps := r.Method == "GET" && !r.List && r.Kind != "" && !strings.Contains(r.Pattern, "/operations/")
		if r.List && !slices.Contains(r.Query, "name") && !slices.Contains(r.Query, "cpc-uri") && r.Kind != KindCapacityRecord || getProps && !slices.Equal(r.Query, []string{"properties", "cached-acceptable"}) ||
			r.Cancelable && r.Action == "" {
			t.Errorf("%s: %+v", key, r)
		}
	}
	for kind, want := range map[string][]string{
		KindCPC:              {"start", "stop"},
		KindLogicalPartition: {"activate", "deactivate", "load", "stop", "start", "reset-normal", "reset-clear", "psw-restart", "scsi-load", "scsi-dump", "nvme-load", "nvme-dump"},
		KindPartition:        {"start", "stop"},
		"":                   nil,
	} {
		if got := Actions(kind); !slices.Equal(got, want) {
			t.Errorf("Actions(%q) = %q, want %q", kind, got, want)
		}
	}
	r := Routes()
	r[1].Query[0] = "changed"
	if Routes()[1].Query[0] != "properties" {
		t.Error("Routes returns the table itself")
	}
}

func TestAddressed(t *testing.T) {
	for uri, want := range map[string]Object{
		"/api/cpcs/c1/anything/below?x=1": {KindCPC, "c1"},
		"/api/logical-partitions/l1/x":    {KindLogicalPartition, "l1"},
		"/api/partitions/p1?name=x":       {KindPartition, "p1"},
		"/api/cpcs":                       {},
		"/api/cpcs/":                      {},
		"/api/cpcs?x=/api/cpcs/c1":        {},
		"/api/jobs/j1":                    {},
		"/api/version":                    {},
		"api/cpcs/c1":                     {},
		"":                                {},
	} {
		got, ok := Addressed(uri)
		if got != want || ok != !want.IsZero() {
			t.Errorf("Addressed(%q) = %+v %v, want %+v", uri, got, ok, want)
		}
		if ok && !strings.HasPrefix(uri, got.URI()) {
			t.Errorf("Addressed(%q).URI() = %q", uri, got.URI())
		}
	}
}

func mustMatch(t *testing.T, method, uri string) Match {
	t.Helper()
	m, err := MatchRoute(method, uri)
	if err != nil {
		t.Fatalf("MatchRoute(%s %s): %v", method, uri, err)
	}
	return m
}

// FuzzMatchRoute: caller URIs never panic the matcher, and it agrees with
// itself: a match is of the method asked, its pattern gives the path back
// with the object id, the object is the one Addressed sees, and another
// method on a matched path is never 404.1.
func FuzzMatchRoute(f *testing.F) {
	for _, s := range []string{
		"/api/cpcs", "/api/cpcs/c1/logical-partitions?name=LP.*", "/api/logical-partitions/l1/operations/activate",
		"/api/partitions/p1/operations/start", "/api/cpcs/../users", "/api/jobs/x", "/api/cpcs/%2e%2e/x", "/api//cpcs",
		"/api/version", "/api/cpcs/c1/operations/stop?", "?", "/api/cpcs/c1?name=a?b",
	} {
		f.Add("GET", s)
		f.Add("POST", s)
	}
	f.Fuzz(func(t *testing.T, method, uri string) {
		m, err := MatchRoute(method, uri)
		again, errAgain := MatchRoute(method, uri)
		if !errors.Is(errAgain, err) || !errors.Is(err, errAgain) || !sameMatch(m, again) {
			t.Fatalf("MatchRoute(%q, %q) answered %+v %v, then %+v %v", method, uri, m, err, again, errAgain)
		}
		path, query, _ := strings.Cut(uri, "?")
		op, opErr := MatchOperation(method, uri)
		if path == "/api/version" {
			if !errors.Is(opErr, hmcerr.ErrNotFound) {
				t.Fatalf("MatchOperation(%q, %q) = %+v, %v; want 404.1", method, uri, op, opErr)
			}
		} else if !errors.Is(opErr, err) || !errors.Is(err, opErr) || !sameMatch(op, m) {
			t.Fatalf("MatchOperation(%q, %q) = %+v, %v; MatchRoute %+v, %v", method, uri, op, opErr, m, err)
		}
		switch {
		case errors.Is(err, hmcerr.ErrNotFound):
			for _, r := range Routes() {
				if _, err := MatchRoute(r.Method, uri); err == nil {
					t.Fatalf("%q is 404.1 for %q but a route for %s", uri, method, r.Method)
				}
			}
			return
		case errors.Is(err, hmcerr.ErrMethodNotAllowed):
			for _, r := range Routes() {
				if _, err := MatchRoute(r.Method, uri); err == nil {
					return
				}
			}
			t.Fatalf("%q is 405.0 for %q but no method matches it", uri, method)
		case err != nil:
			t.Fatalf("MatchRoute(%q, %q): %v", method, uri, err)
		}
		if m.Route.Method != method || m.Query != query {
			t.Fatalf("MatchRoute(%q, %q) = %+v", method, uri, m)
		}
		if got := strings.Replace(m.Route.Pattern, "{id}", m.Object.ID, 1); got != path {
			t.Fatalf("MatchRoute(%q, %q) matched %s with id %q", method, uri, m.Route.Pattern, m.Object.ID)
		}
		if obj, ok := Addressed(uri); obj != m.Object || ok != !m.Object.IsZero() {
			t.Fatalf("MatchRoute(%q) addresses %+v, Addressed %+v", uri, m.Object, obj)
		}
		if !m.Object.IsZero() && (m.Object.ID == "" || strings.Contains(m.Object.ID, "/") || !strings.HasPrefix(path, m.Object.URI())) {
			t.Fatalf("object %+v of %q", m.Object, uri)
		}
		for _, other := range []string{"GET", "POST", "PUT", "DELETE"} {
			if _, err := MatchRoute(other, uri); errors.Is(err, hmcerr.ErrNotFound) {
				t.Fatalf("%q matches for %s but is 404.1 for %s", uri, method, other)
			}
		}
	})
}

func sameMatch(a, b Match) bool {
	return a.Object == b.Object && a.Query == b.Query && a.Route.Method == b.Route.Method &&
		a.Route.Pattern == b.Route.Pattern && slices.Equal(a.Route.Query, b.Route.Query)
}

// MatchRoute is MatchOperation with Query API Version among the routes.
func MatchRoute(method, uri string) (Match, error) { return match(method, uri, true) }
