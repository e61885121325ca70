package simse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// options are the request body fields that change what an operation does.
type options struct {
	force         bool
	profile       string // activation-profile-name
	loadAddress   string
	loadParameter string
	paramSet      bool // the body gives load-parameter
	// act is the activation an activate makes, resolved when it starts.
	act activation
}

// bodyFields are the request body fields the SE checks, by operation, with
// their JSON types. Other fields are accepted and ignored: the HMC defines
// many more, and a client that sends them should not be refused by a
// simulator that does not use them.
var bodyFields = map[string]map[string]string{
	"activate":   {"activation-profile-name": "string", "force": "boolean"},
	"deactivate": {"force": "boolean"},
	"load": {
		"load-address": "string", "load-parameter": "string", "clear-indicator": "boolean",
		"store-status-indicator": "boolean", "force": "boolean",
	},
	"reset-normal": {"force": "boolean", "os-ipl-token": "string"},
	"reset-clear":  {"force": "boolean", "os-ipl-token": "string"},
}

func parseBody(op string, body []byte) (options, error) {
	var o options
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return o, nil
	}
	if !json.Valid(t) {
		return o, errBadJSON
	}
	if t[0] != '{' {
		return o, hmcerr.ErrInvalidField.WithMessage("The request body must be a JSON object.")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(t, &fields); err != nil {
		return o, errBadJSON
	}
	known := bodyFields[op]
	for _, name := range slices.Sorted(maps.Keys(known)) {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		raw = bytes.TrimSpace(raw)
		switch known[name] {
		case "boolean":
			if s := string(raw); s != "true" && s != "false" {
				return o, hmcerr.ErrInvalidField.WithMessage("The field %s must be a boolean.", name)
			}
			if name == "force" {
				o.force = string(raw) == "true"
			}
		case "string":
			var v string
			if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
				return o, hmcerr.ErrInvalidField.WithMessage("The field %s must be a string.", name)
			}
			if err := o.setString(name, v); err != nil {
				return o, err
			}
		}
	}
	return o, nil
}

func (o *options) setString(name, v string) error {
	switch name {
	case "activation-profile-name":
		o.profile = v
	case "load-address":
		if !validLoadAddress(v) {
			return hmcerr.ErrInvalidField.WithMessage("The field load-address must be a device number of 4 or 5 hexadecimal digits.")
		}
		o.loadAddress = strings.ToUpper(v)
	case "load-parameter":
		o.loadParameter, o.paramSet = v, true
	}
	return nil
}

// query is what a request's query parameters ask for.
type query struct {
	// names are the name filters: a regular expression the whole name must
	// match, as the HMC's name filter; given more than once, any may
	// match. statuses and types are List Partitions of a CPC's filters,
	// exact values, any of which may match.
	names           []*regexp.Regexp
	statuses, types []string
	// props are the properties Get Properties is to answer; nil for all.
	props []string
	// extra are the additional-properties each entry of List Image
	// Activation Profiles carries.
	extra []string
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
	var q query
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
			if err := q.add(name, v); err != nil {
				return q, err
			}
		}
	}
	return q, nil
}

func (q *query) add(name, v string) error {
	switch name {
	case "name":
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return hmcerr.ErrBadQueryParm.WithMessage("The name query parameter is not a valid regular expression.")
		}
		q.names = append(q.names, re)
	case "status", "type":
		allowed, list := partitionStatuses, &q.statuses
		if name == "type" {
			allowed, list = partitionTypes, &q.types
		}
		if !slices.Contains(allowed, v) {
			return hmcerr.ErrBadQueryParm.WithMessage("The %s query parameter must be one of %s.", name, strings.Join(allowed, ", "))
		}
		*list = append(*list, v)
	case "properties":
		if q.props == nil {
			q.props = []string{}
		}
		q.props = append(q.props, strings.Split(v, ",")...)
	case "additional-properties":
		q.extra = append(q.extra, strings.Split(v, ",")...)
	case "cached-acceptable":
		if v != "true" && v != "false" {
			return hmcerr.ErrBadQueryParm.WithMessage("The cached-acceptable query parameter must be true or false.")
		}
	}
	return nil
}

// matches reports whether an object of the name, status and type passes
// the list filters.
func (q query) matches(name, status, typ string) bool {
	if len(q.statuses) > 0 && !slices.Contains(q.statuses, status) || len(q.types) > 0 && !slices.Contains(q.types, typ) {
		return false
	}
	if len(q.names) == 0 {
		return true
	}
	for _, re := range q.names {
		if re.MatchString(name) {
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

func (s *SE) answer(m bcpii.Match, q query) (any, error) {
	if m.Route.Kind == bcpii.KindConsole {
		return q.pick(consoleProperties(s.console))
	}
	if m.Object.IsZero() {
		cpcs := []map[string]any{}
		for _, c := range s.cpcs {
			if q.matches(c.name, "", "") {
				item := map[string]any{
					"object-uri": c.uri, "name": c.name, "status": c.status,
					"target-name": c.target, "dpm-enabled": c.dpm,
				}
				if !q.origin.IsZero() {
					item["location"] = "remote"
					if q.isOrigin(c.target, true) {
						item["location"] = "local"
					}
				}
				cpcs = append(cpcs, item)
			}
		}
		return map[string]any{"cpcs": cpcs}, nil
	}
	o := s.byURI[m.Object.URI()]
	if o == nil {
		return nil, hmcerr.ErrNotFound
	}
	switch m.Route.Kind {
	case bcpii.KindImageProfile, bcpii.KindLoadProfile, bcpii.KindResetProfile:
		return profileAnswer(o, m, q)
	}
	if !m.Route.List {
		return q.pick(properties(o))
	}
	// A CPC in the other mode has none of them, as the HMC answers.
	items := []map[string]any{}
	for _, c := range o.children {
		if c.kind == m.Route.Kind && q.matches(c.name, c.status, c.ptype) {
			item := map[string]any{"object-uri": c.uri, "name": c.name, "status": c.status, "target-name": c.target}
			if c.kind == bcpii.KindPartition {
				item["type"] = c.ptype
			}
			if c.kind == bcpii.KindLogicalPartition && !q.origin.IsZero() {
				item["request-origin"] = q.isOrigin(c.target, false)
			}
			items = append(items, item)
		}
	}
	// Unlike the other lists, the HMC's List Logical Partitions of CPC
	// answers 404.1 when its name filter matches none (zhmcclient's LPAR
	// manager takes that answer for an empty list).
	if m.Route.Kind == bcpii.KindLogicalPartition && len(q.names) > 0 && len(items) == 0 {
		return nil, hmcerr.ErrNotFound.WithMessage("No logical partition of the CPC matches the name filter.")
	}
	return map[string]any{bcpii.Collection(m.Route.Kind): items}, nil
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
		if !q.matches(p.name, "", "") {
			continue
		}
		item := map[string]any{"element-uri": p.uri, "name": p.name}
		if len(q.extra) > 0 {
			extra, err := query{props: q.extra}.pick(profileProperties(p, cpc))
			if err != nil {
				return nil, err
			}
			maps.Copy(item, extra)
		}
		items = append(items, item)
	}
	return map[string]any{m.Route.Kind + "s": items}, nil
}

// properties are an object's properties, as Get Properties answers them.
// It runs under SE.mu.
func properties(o *object) map[string]any {
	p := map[string]any{
		"class": o.kind, "name": o.name, "object-id": o.id, "object-uri": o.uri,
		"status": o.status, "target-name": o.target,
	}
	switch o.kind {
	case bcpii.KindCPC:
		p["dpm-enabled"] = o.dpm
	case bcpii.KindLogicalPartition:
		p["parent"] = o.parent.uri
		p["next-activation-profile-name"] = o.nextProfile
		p["last-used-activation-profile"] = o.lpar.lastProfile
		p["last-used-load-address"] = o.lpar.loadAddress
		p["last-used-load-parameter"] = o.lpar.loadParameter
		mode := o.lpar.mode
		if o.status == "not-activated" || mode == "" {
			mode = "not-set"
		}
		p["activation-mode"] = mode
	default:
		p["parent"] = o.parent.uri
		p["type"] = o.ptype
	}
	return p
}

// plan is how a started operation will go, decided when it starts.
type plan struct {
	duration       time.Duration
	cancelDuration time.Duration
	cancelable     bool
	// during is the object's status while the operation runs; empty keeps
	// it.
	during string
	// result is how the job ends once the duration has passed.
	result jobs.Result
	// effect changes the objects when the job completes with a 2xx code;
	// it runs under SE.mu.
	effect func()
}

// planFor decides the operation of route rt on o: the state rules first,
// then the inventory's outcome if the rules let it run. Whether the job can
// be canceled is the route's unless the inventory says otherwise. It runs
// under SE.mu.
func planFor(o *object, rt bcpii.Route, opts options) plan {
	op := rt.Action
	cfg := o.ops[op]
	p := plan{
		duration:       operationDuration(cfg),
		cancelDuration: cfg.CancelDuration,
		cancelable:     rt.Cancelable,
	}
	if cfg.Cancelable != nil {
		p.cancelable = *cfg.Cancelable
	}
	if why := wrongState(o, op, opts); why != "" {
		p.result = failure(hmcerr.JobWrongState, why)
		return p
	}
	if why := opts.act.refused; why != "" {
		p.result = failure(hmcerr.JobProfileUnusable, why)
		return p
	}
	p.during, p.result, p.effect = transition(o, op, opts)
	switch {
	case cfg.StatusCode != 0:
		p.result = jobs.Result{Status: jobs.Complete, StatusCode: cfg.StatusCode, ReasonCode: cfg.ReasonCode, Results: cfg.Results}
	case cfg.Results != nil:
		p.result = jobs.Result{Status: jobs.Complete, StatusCode: 200, Results: cfg.Results}
	}
	return p
}

func describeObject(o *object) string {
	switch o.kind {
	case bcpii.KindLogicalPartition:
		return "logical partition " + o.name
	case bcpii.KindPartition:
		return "partition " + o.name
	}
	return "CPC " + o.name
}

// wrongState says why op cannot run on o as it is, or "" if it can.
func wrongState(o *object, op string, opts options) string {
	if c := o.parent; c != nil && c.status != "operating" {
		return fmt.Sprintf("The %s has status %s.", describeObject(c), c.status)
	}
	bad := func(extra string) string {
		return fmt.Sprintf("The %s has status %s%s.", describeObject(o), o.status, extra)
	}
	if o.kind == bcpii.KindLogicalPartition {
		return lparWrongState(o, op, opts, bad)
	}
	switch o.kind + " " + op {
	case bcpii.KindPartition + " start":
		if o.status != "stopped" {
			return bad("")
		}
	case bcpii.KindPartition + " stop":
		if o.status != "active" {
			return bad("")
		}
	case bcpii.KindCPC + " start":
		if o.status != "not-operating" {
			return bad("")
		}
	case bcpii.KindCPC + " stop":
		if o.status != "operating" {
			return bad("")
		}
	}
	return ""
}

// lparWrongState is wrongState for an LPAR whose CPC operates.
func lparWrongState(o *object, op string, opts options, bad func(string) string) string {
	if o.status == "not-activated" && op != "activate" {
		return bad("")
	}
	switch op {
	case "activate":
		if o.status == "operating" && !opts.force {
			return bad("; activating it again needs force")
		}
	case "load":
		if o.status == "operating" && !opts.force {
			return bad("; loading it again needs force")
		}
	case "reset-normal", "reset-clear":
		// As the HMC's Reset Normal and Reset Clear: force for an
		// operating LPAR and for one in exceptions.
		if (o.status == "operating" || o.status == "exceptions") && !opts.force {
			return bad("; resetting it needs force")
		}
	case "deactivate":
		if o.status == "operating" && !opts.force {
			return bad("; deactivating it needs force")
		}
	case "stop", "start":
		// As the HMC's Stop and Start Logical Partition: an activated
		// LPAR, operating or not, unless it runs a firmware appliance.
		if m := o.lpar.mode; m == "ssc" || m == "zaware" {
			return fmt.Sprintf("The %s runs in %s mode, which does not permit %s.", describeObject(o), m, op)
		}
	}
	return ""
}

// transition is what op does to o when it succeeds.
func transition(o *object, op string, opts options) (during string, res jobs.Result, effect func()) {
	set := func(status string) func() { return func() { o.status = status } }
	noContent := jobs.Result{Status: jobs.Complete, StatusCode: 204}
	if o.kind == bcpii.KindLogicalPartition {
		return "", lparDone(o, op), lparEffect(o, op, opts)
	}
	switch o.kind + " " + op {
	case bcpii.KindPartition + " start":
		return "starting", noContent, set("active")
	case bcpii.KindPartition + " stop":
		return "stopping", noContent, set("stopped")
	case bcpii.KindCPC + " start":
		return "", noContent, set("operating")
	case bcpii.KindCPC + " stop":
		// Stopping a CPC stops its partitions with it.
		return "", noContent, func() {
			o.status = "not-operating"
			for _, c := range o.children {
				c.status = "stopped"
			}
		}
	}
	return "", noContent, nil
}

// lparVerbs are what the job-results message says each LPAR operation
// did.
var lparVerbs = map[string]string{
	"activate": "activated", "deactivate": "deactivated", "load": "loaded", "stop": "stopped",
	"start": "started", "reset-normal": "reset", "reset-clear": "reset and cleared", "psw-restart": "restarted",
}

func lparDone(o *object, op string) jobs.Result {
	return jobs.Result{
		Status: jobs.Complete, StatusCode: 200,
		Results: message("Logical partition %s %s.", o.name, lparVerbs[op]),
	}
}

// lparEffect is what a successful LPAR operation leaves: activate ends
// not-operating, or operating when its profile loads; load and psw-restart
// end operating; stop and the resets end not-operating; start ends
// operating; deactivate ends not-activated. It runs under SE.mu.
func lparEffect(o *object, op string, opts options) func() {
	return func() {
		switch op {
		case "activate":
			a := opts.act
			o.status = "not-operating"
			o.lpar.lastProfile, o.lpar.mode = a.profile, a.mode
			if a.loads {
				o.status = "operating"
				o.lpar.loadAddress, o.lpar.loadParameter = a.address, a.param
			}
		case "deactivate":
			o.status = "not-activated"
		case "load":
			o.status = "operating"
			o.lpar.loadAddress, o.lpar.loadParameter = opts.loadAddress, opts.loadParameter
		case "start", "psw-restart":
			o.status = "operating"
		case "stop", "reset-normal", "reset-clear":
			o.status = "not-operating"
		}
	}
}

func failure(o hmcerr.JobOutcome, msg string) jobs.Result {
	return jobs.Result{Status: jobs.Complete, StatusCode: o.StatusCode, ReasonCode: o.ReasonCode, Results: message("%s", msg)}
}

func canceledResult(r *run) jobs.Result {
	return jobs.Result{
		Status: jobs.Canceled, StatusCode: hmcerr.JobCanceled.StatusCode, ReasonCode: hmcerr.JobCanceled.ReasonCode,
		Results: message("The operation was canceled; the %s was left as it was.", describeObject(r.obj)),
	}
}

func stoppedResult(r *run) jobs.Result {
	return jobs.Result{
		Status: jobs.Complete, StatusCode: hmcerr.JobLost.StatusCode, ReasonCode: hmcerr.JobLost.ReasonCode,
		Results: message("The simulated Support Element stopped before the operation ended; the %s was left as it was.", describeObject(r.obj)),
	}
}

// message is job-results holding only a message, as the HMC reports the
// detail of an operation.
func message(format string, args ...any) []byte {
	var b bytes.Buffer
	b.WriteString(`{"message":`)
	writeString(&b, fmt.Sprintf(format, args...))
	b.WriteByte('}')
	return b.Bytes()
}

// orphanedResult ends a job an earlier simulated SE left running: it died
// (kill -9, power loss) and forgot the operation, whose outcome is unknown.
var orphanedResult = jobs.Result{
	Status: jobs.Complete, StatusCode: hmcerr.JobLost.StatusCode, ReasonCode: hmcerr.JobLost.ReasonCode,
	Results: message("The simulated Support Element restarted while the operation ran; its outcome is unknown."),
}
