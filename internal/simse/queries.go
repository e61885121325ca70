package simse

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// query is what a request's query parameters ask for.
type query struct {
	// names are the name filters: a regular expression the whole name must
	// match, as the HMC's name filter; given more than once, any may
	// match. cpcNames are List Permitted's cpc-name filters, alike.
	names, cpcNames []*regexp.Regexp
	// equal are the filters whose value a property must equal (status,
	// type, activation-mode, adapter-id, cpc-uri, ...): for each, any of
	// the values given.
	equal map[string][]string
	// props are the properties Get Properties is to answer; nil for all.
	props []string
	// extra are the additional-properties each list entry carries.
	extra []string
	// List OS Messages' window: sequence numbers from begin to end (-1:
	// open), held and priority filters, at most max messages (0: all).
	begin, end     int64
	held, priority *bool
	max            int
	// origin is the requesting partition of a BCPii request, zero for an
	// API user's. BCPii lists say which CPC is the requester's (location)
	// and which LPAR is the requester (request-origin).
	origin bcpii.TargetName
}

// parseQuery checks the query of a request against the parameters its
// route takes, as the HMC does: an unknown parameter, a malformed one, a
// name that is not a regular expression, or a value a filter cannot have is
// 400.1. A properties name the object lacks is judged later, 400.14.
func parseQuery(rt bcpii.Route, raw string) (query, error) {
	q := query{begin: -1, end: -1}
	if raw == "" {
		return q, nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return q, hmcerr.ErrBadQueryParm.WithMessage("The query is malformed.")
	}
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		if !slices.Contains(rt.Query, name) {
			return q, hmcerr.ErrBadQueryParm.WithMessage("The query parameter %q is not valid for this request.", name)
		}
		for _, v := range vals[name] {
			if err := q.add(rt, name, v); err != nil {
				return q, err
			}
		}
	}
	return q, nil
}

// enumFilters are the filters whose values the HMC checks, by kind.
var enumFilters = map[string]map[string][]string{
	bcpii.KindPartition:        {"status": partitionStatuses, "type": partitionTypes},
	bcpii.KindLogicalPartition: {"status": lparStatuses},
}

func badQuery(format string, args ...any) error {
	return hmcerr.ErrBadQueryParm.WithMessage(format, args...)
}

func (q *query) add(rt bcpii.Route, name, v string) error {
	switch name {
	case "name", "cpc-name":
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return badQuery("The %s query parameter is not a valid regular expression.", name)
		}
		if name == "name" {
			q.names = append(q.names, re)
		} else {
			q.cpcNames = append(q.cpcNames, re)
		}
	case "properties":
		if q.props == nil {
			q.props = []string{}
		}
		q.props = append(q.props, strings.Split(v, ",")...)
	case "additional-properties":
		q.extra = append(q.extra, strings.Split(v, ",")...)
	case "cached-acceptable", "is-held", "is-priority":
		if v != "true" && v != "false" {
			return badQuery("The %s query parameter must be true or false.", name)
		}
		b := v == "true"
		switch name {
		case "is-held":
			q.held = &b
		case "is-priority":
			q.priority = &b
		}
	case "begin-sequence-number", "end-sequence-number", "max-messages":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || name == "max-messages" && n == 0 {
			return badQuery("The %s query parameter must be a non-negative integer.", name)
		}
		switch name {
		case "begin-sequence-number":
			q.begin = n
		case "end-sequence-number":
			q.end = n
		default:
			q.max = int(min(n, 1<<20))
		}
	default:
		if name == "has-unacceptable-status" && v != "true" && v != "false" {
			return badQuery("The has-unacceptable-status query parameter must be true or false.")
		}
		if allowed, ok := enumFilters[rt.Kind][name]; ok && !slices.Contains(allowed, v) {
			return badQuery("The %s query parameter must be one of %s.", name, strings.Join(allowed, ", "))
		}
		if q.equal == nil {
			q.equal = map[string][]string{}
		}
		q.equal[name] = append(q.equal[name], v)
	}
	return nil
}

// matches reports whether an object of the name and properties passes the
// list filters.
func (q query) matches(name string, props map[string]any) bool {
	for key, want := range q.equal {
		got, ok := props[key]
		if !ok {
			return false
		}
		s, isString := got.(string)
		if !isString {
			b, _ := json.Marshal(got)
			s = string(b)
		}
		if !slices.Contains(want, s) {
			return false
		}
	}
	return matchAny(q.names, name)
}

func matchAny(res []*regexp.Regexp, s string) bool {
	if len(res) == 0 {
		return true
	}
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// isOrigin reports whether target names the requesting partition, or
// with cpc its CPC.
func (q query) isOrigin(target string, cpc bool) bool {
	t, err := bcpii.ParseTargetName(target)
	if cpc {
		return err == nil && t.Equal(q.origin.CPC())
	}
	return err == nil && t.Equal(q.origin)
}

// pick answers the properties q asks for; a name the object lacks is
// 400.14.
func (q query) pick(props map[string]any) (map[string]any, error) {
	if q.props == nil {
		return props, nil
	}
	out := make(map[string]any, len(q.props))
	for _, name := range q.props {
		v, ok := props[name]
		if !ok {
			return nil, errUnknownProperty.WithMessage("The object has no property %q.", name)
		}
		out[name] = v
	}
	return out, nil
}

// entry is a list entry: the fields given, and the additional-properties
// q asks for from the object's properties (400.14 for one it lacks).
func (q query) entry(all map[string]any, fields ...string) (map[string]any, error) {
	item := make(map[string]any, len(fields)+len(q.extra))
	for _, f := range fields {
		item[f] = all[f]
	}
	for _, name := range q.extra {
		v, ok := all[name]
		if !ok {
			return nil, errUnknownProperty.WithMessage("The object has no property %q.", name)
		}
		item[name] = v
	}
	return item, nil
}

// get answers the queries. Bodies are compact JSON with keys in lexical
// order, like the job status bodies.
func (s *SE) get(m bcpii.Match, q query) (bcpii.OperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, err := s.answer(m, q)
	if err != nil {
		return bcpii.OperationResponse{}, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return bcpii.OperationResponse{}, hmcerr.As(err)
	}
	return bcpii.OperationResponse{Status: 200, Body: b}, nil
}

// answer is the body of a query. It runs under SE.mu.
func (s *SE) answer(m bcpii.Match, q query) (any, error) {
	switch m.Route.Name {
	case "Get Console Properties":
		return q.pick(consoleProperties(s.console))
	case "List CPC Objects":
		return s.listCPCs(q)
	case "List Console API Features", "List CPC API Features":
		// The simulated console and CPCs enable no API feature: the
		// answer is the HMC's bare array of names, empty. (A CPC's must
		// exist.)
		if m.Route.Kind == bcpii.KindCPC && s.byURI[m.Object.URI()] == nil {
			return nil, hmcerr.ErrNotFound
		}
		return []string{}, nil
	case "List Unmanaged CPCs":
		// Every CPC the simulated SE knows is managed.
		return map[string]any{"cpcs": []any{}}, nil
	case "List Permitted Logical Partitions", "List Permitted Partitions":
		return s.listPermitted(m.Route.Kind, q)
	case "List Storage Groups":
		return s.listStorageGroups(q)
	}
	o := s.byURI[m.Object.URI()]
	if o == nil {
		return nil, hmcerr.ErrNotFound
	}
	switch m.Route.Kind {
	case bcpii.KindImageProfile, bcpii.KindLoadProfile, bcpii.KindResetProfile:
		return profileAnswer(o, m, q)
	case bcpii.KindCapacityRecord:
		return capacityAnswer(o, m, q)
	case bcpii.KindNIC, bcpii.KindHBA, bcpii.KindVirtualFunction:
		// The simulated partitions have none of these elements.
		return nil, hmcerr.ErrNotFound
	}
	if strings.HasPrefix(m.Route.Name, "List OS Messages of a ") {
		return osMessages(o, q)
	}
	if !m.Route.List {
		return q.pick(properties(o))
	}
	// A CPC in the other mode has none of them, as the HMC answers.
	items := []map[string]any{}
	for _, c := range slices.Concat(o.children, o.resources) {
		if c.kind != m.Route.Kind {
			continue
		}
		all := properties(c)
		if !q.matches(c.name, all) {
			continue
		}
		item, err := q.entry(all, listFields[c.kind]...)
		if err != nil {
			return nil, err
		}
		if c.kind == bcpii.KindLogicalPartition && !q.origin.IsZero() {
			item["request-origin"] = q.isOrigin(c.target, false)
		}
		items = append(items, item)
	}
	// Unlike the other lists, the HMC's List Logical Partitions of CPC
	// answers 404.1 when its name filter matches none (zhmcclient's LPAR
	// manager takes that answer for an empty list).
	if m.Route.Kind == bcpii.KindLogicalPartition && len(q.names) > 0 && len(items) == 0 {
		return nil, hmcerr.ErrNotFound.WithMessage("No logical partition of the CPC matches the name filter.")
	}
	return map[string]any{bcpii.Collection(m.Route.Kind): items}, nil
}

// listFields are the fields of each kind's list entries.
var listFields = map[string][]string{
	bcpii.KindCPC:              {"object-uri", "name", "status", "target-name", "dpm-enabled", "has-unacceptable-status", "se-version"},
	bcpii.KindLogicalPartition: {"object-uri", "name", "status", "target-name"},
	bcpii.KindPartition:        {"object-uri", "name", "status", "target-name", "type"},
	bcpii.KindAdapter:          {"object-uri", "name", "adapter-id", "adapter-family", "type", "status"},
	bcpii.KindVirtualSwitch:    {"object-uri", "name", "type"},
	bcpii.KindStorageGroup:     {"object-uri", "cpc-uri", "name", "fulfillment-state", "type"},
}

func (s *SE) listCPCs(q query) (any, error) {
	cpcs := []map[string]any{}
	for _, c := range s.cpcs {
		all := properties(c)
		if !q.matches(c.name, all) {
			continue
		}
		item, err := q.entry(all, listFields[bcpii.KindCPC]...)
		if err != nil {
			return nil, err
		}
		if !q.origin.IsZero() {
			item["location"] = "remote"
			if q.isOrigin(c.target, true) {
				item["location"] = "local"
			}
		}
		cpcs = append(cpcs, item)
	}
	return map[string]any{"cpcs": cpcs}, nil
}

// listPermitted answers List Permitted Logical Partitions and List
// Permitted Partitions: every object of kind that the caller may act on,
// over all CPCs. A requesting partition sees the partitions its BCPii
// permissions let it act on; an API user sees all. Every object is looked
// at whoever asks, so that the answer takes as long whatever it leaves
// out.
func (s *SE) listPermitted(kind string, q query) (any, error) {
	items := []map[string]any{}
	for _, c := range s.cpcs {
		cpcMatches := matchAny(q.cpcNames, c.name)
		for _, o := range c.children {
			if o.kind != kind {
				continue
			}
			all := properties(o)
			permitted := q.origin.IsZero() || s.permits(q.origin, o)
			if !cpcMatches || !permitted || !q.matches(o.name, all) {
				continue
			}
			fields := []string{"object-uri", "name", "status", "has-unacceptable-status"}
			if kind == bcpii.KindLogicalPartition {
				fields = append(fields, "activation-mode")
			} else {
				fields = append(fields, "type")
			}
			item, err := q.entry(all, fields...)
			if err != nil {
				return nil, err
			}
			item["cpc-name"], item["cpc-object-uri"], item["se-version"] = c.name, c.uri, c.props["se-version"]
			if !q.origin.IsZero() {
				item["target-name"] = o.target
				if kind == bcpii.KindLogicalPartition {
					item["request-origin"] = q.isOrigin(o.target, false)
				}
			}
			items = append(items, item)
		}
	}
	return map[string]any{bcpii.Collection(kind): items}, nil
}

// permits reports whether the requesting partition may act on o, by the
// BCPii permissions.
func (s *SE) permits(requester bcpii.TargetName, o *object) bool {
	t, err := bcpii.ParseTargetName(o.target)
	if err != nil {
		return false
	}
	return bcpii.Permit(requester, t, func(t bcpii.TargetName) (bcpii.Permissions, bool) {
		p, ok := s.perms[t]
		return p, ok
	}) == nil
}

// listStorageGroups answers List Storage Groups, the console's: those of
// every CPC, or of the CPCs cpc-uri names.
func (s *SE) listStorageGroups(q query) (any, error) {
	items := []map[string]any{}
	for _, c := range s.cpcs {
		for _, o := range c.resources {
			if o.kind != bcpii.KindStorageGroup {
				continue
			}
			all := properties(o)
			if !q.matches(o.name, all) {
				continue
			}
			item, err := q.entry(all, listFields[bcpii.KindStorageGroup]...)
			if err != nil {
				return nil, err
			}
			items = append(items, item)
		}
	}
	return map[string]any{"storage-groups": items}, nil
}

// profileAnswer lists a CPC's profiles of a kind or answers one's
// properties. A CPC in DPM mode has none.
func profileAnswer(cpc *object, m bcpii.Match, q query) (any, error) {
	if !m.Route.List {
		p := findProfile(cpc, m.Route.Kind, m.Element)
		if p == nil || p.name != m.Element {
			return nil, hmcerr.ErrNotFound
		}
		return q.pick(profileProperties(p, cpc))
	}
	items := []map[string]any{}
	for _, p := range cpc.profiles[m.Route.Kind] {
		if !matchAny(q.names, p.name) {
			continue
		}
		item, err := q.entry(profileProperties(p, cpc), "element-uri", "name")
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	return map[string]any{m.Route.Kind + "s": items}, nil
}

// properties are an object's properties, as Get Properties answers them:
// its class's table (classes.go), with the values that follow the object's
// identity and state. It runs under SE.mu.
func properties(o *object) map[string]any {
	p := maps.Clone(o.props)
	p["class"], p["name"], p["object-id"], p["object-uri"] = o.kind, o.name, o.id, o.uri
	if _, ok := p["status"]; ok {
		p["status"] = o.status
	}
	if acc, ok := p["acceptable-status"].([]any); ok {
		p["has-unacceptable-status"] = !slices.Contains(acc, any(o.status))
	}
	if o.parent != nil {
		p["parent"] = o.parent.uri
	}
	switch o.kind {
	case bcpii.KindCPC:
		p["dpm-enabled"], p["target-name"], p["sna-name"] = o.dpm, o.target, o.target
		p["iml-mode"] = "lpar"
		if o.dpm {
			p["iml-mode"] = "dpm"
		}
	case bcpii.KindLogicalPartition:
		lparProperties(o, p)
	case bcpii.KindPartition:
		p["target-name"], p["type"] = o.target, o.ptype
		if p["short-name"] == "" {
			p["short-name"] = o.name
		}
		if o.status == "active" {
			p["os-name"], p["os-type"] = o.name, osType(o.ptype)
		}
	case bcpii.KindStorageGroup:
		p["parent"], p["cpc-uri"] = "/api/console", o.parent.uri
	}
	return p
}

// lparProperties sets the properties of LPAR o that follow its state.
func lparProperties(o *object, p map[string]any) {
	p["target-name"] = o.target
	p["next-activation-profile-name"] = o.nextProfile
	p["last-used-load-address"] = o.lpar.loadAddress
	p["last-used-load-parameter"] = o.lpar.loadParameter
	if o.lpar.lastProfile != "" {
		p["last-used-activation-profile"] = o.lpar.lastProfile
	}
	if o.lpar.loadType != "" {
		p["last-used-load-type"] = o.lpar.loadType
	}
	mode := o.lpar.mode
	if o.status == "not-activated" || mode == "" {
		mode = "not-set"
	}
	p["activation-mode"] = mode
	if o.status == "not-activated" {
		return
	}
	// An active LPAR has a partition number and runs with its weights and
	// cores; an operating one has an operating system.
	n := fmt.Sprintf("%02x", o.lpar.number)
	p["partition-number"], p["partition-identifier"] = n, n
	p["current-processing-weight"] = p["initial-processing-weight"]
	p["current-processing-weight-capped"] = p["initial-processing-weight-capped"]
	p["number-general-purpose-processors"] = p["number-general-purpose-cores"]
	p["number-ifl-processors"] = p["number-ifl-cores"]
	p["number-ziip-processors"] = p["number-ziip-cores"]
	p["number-icf-processors"] = p["number-icf-cores"]
	p["has-operating-system-messages"] = o.status == "operating"
	if o.status == "operating" {
		p["os-name"], p["os-type"], p["os-level"] = o.name, osType(mode), "1.0"
		p["os-ipl-token"] = "0000000000000000"
	}
}

// osType is the os-type a simulated operating system reports in mode.
func osType(mode string) string {
	switch mode {
	case "linux-only", "linux":
		return "Linux"
	case "ssc":
		return "SSC"
	case "zvm", "z-vm":
		return "z/VM"
	case "coupling-facility":
		return "CFCC"
	}
	return "MVS"
}
