package simse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// options are the request body fields that change what an operation does.
type options struct {
	force bool
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
			if len(raw) == 0 || raw[0] != '"' {
				return o, hmcerr.ErrInvalidField.WithMessage("The field %s must be a string.", name)
			}
		}
	}
	return o, nil
}

// parseQuery checks the query of a request against the parameters its
// route takes. Only the lists take one: name, a regular expression the
// whole name must match, as the HMC's name filter; given more than once,
// any may match.
func parseQuery(rt bcpii.Route, raw string) ([]*regexp.Regexp, error) {
	if raw == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, hmcerr.ErrBadQueryParm.WithMessage("The query is malformed.")
	}
	var res []*regexp.Regexp
	for _, name := range slices.Sorted(maps.Keys(q)) {
		values := q[name]
		if !slices.Contains(rt.Query, name) {
			return nil, hmcerr.ErrBadQueryParm.WithMessage("The query parameter %q is not valid for this request.", name)
		}
		for _, v := range values {
			re, err := regexp.Compile("^(?:" + v + ")$")
			if err != nil {
				return nil, hmcerr.ErrBadQueryParm.WithMessage("The name query parameter is not a valid regular expression.")
			}
			res = append(res, re)
		}
	}
	return res, nil
}

func matches(names []*regexp.Regexp, name string) bool {
	if len(names) == 0 {
		return true
	}
	for _, re := range names {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// get answers the queries. Bodies are compact JSON with keys in lexical
// order, like the job status bodies.
func (s *SE) get(m bcpii.Match, names []*regexp.Regexp) (bcpii.OperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var body any
	if m.Object.IsZero() {
		cpcs := []map[string]any{}
		for _, c := range s.cpcs {
			if matches(names, c.name) {
				cpcs = append(cpcs, map[string]any{
					"object-uri": c.uri, "name": c.name, "status": c.status,
					"target-name": c.target, "dpm-enabled": c.dpm,
				})
			}
		}
		body = map[string]any{"cpcs": cpcs}
	} else {
		o := s.byURI[m.Object.URI()]
		if o == nil {
			return bcpii.OperationResponse{}, hmcerr.ErrNotFound
		}
		if !m.Route.List {
			body = properties(o)
		} else {
			// A CPC in the other mode has none of them, as the HMC answers.
			items := []map[string]any{}
			for _, c := range o.children {
				if c.kind == m.Route.Kind && matches(names, c.name) {
					items = append(items, map[string]any{
						"object-uri": c.uri, "name": c.name, "status": c.status, "target-name": c.target,
					})
				}
			}
			body = map[string]any{bcpii.Collection(m.Route.Kind): items}
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return bcpii.OperationResponse{}, hmcerr.As(err)
	}
	return bcpii.OperationResponse{Status: 200, Body: b}, nil
}

func properties(o *object) map[string]any {
	p := map[string]any{
		"class": o.kind, "name": o.name, "object-id": o.id, "object-uri": o.uri,
		"status": o.status, "target-name": o.target,
	}
	if o.kind == bcpii.KindCPC {
		p["dpm-enabled"] = o.dpm
	} else {
		p["parent"] = o.parent.uri
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
		p.result = failure(409, 1, why)
		return p
	}
	p.during, p.result, p.effect = transition(o, op)
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
	switch o.kind + " " + op {
	case bcpii.KindLogicalPartition + " activate":
		if o.status == "operating" && !opts.force {
			return bad("; activating it again needs force")
		}
	case bcpii.KindLogicalPartition + " deactivate":
		if o.status == "not-activated" {
			return bad("")
		}
	case bcpii.KindLogicalPartition + " load":
		if o.status == "not-activated" {
			return bad("")
		}
		if o.status == "operating" && !opts.force {
			return bad("; loading it again needs force")
		}
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

// transition is what op does to o when it succeeds.
func transition(o *object, op string) (during string, res jobs.Result, effect func()) {
	set := func(status string) func() { return func() { o.status = status } }
	done := func(verb string) jobs.Result {
		return jobs.Result{
			Status: jobs.Complete, StatusCode: 200,
			Results: message("Logical partition %s %s.", o.name, verb),
		}
	}
	noContent := jobs.Result{Status: jobs.Complete, StatusCode: 204}
	switch o.kind + " " + op {
	case bcpii.KindLogicalPartition + " activate":
		return "", done("activated"), set("operating")
	case bcpii.KindLogicalPartition + " deactivate":
		return "", done("deactivated"), set("not-activated")
	case bcpii.KindLogicalPartition + " load":
		return "", done("loaded"), set("operating")
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

func failure(code, reason int, msg string) jobs.Result {
	return jobs.Result{Status: jobs.Complete, StatusCode: code, ReasonCode: reason, Results: message("%s", msg)}
}

func canceledResult(r *run) jobs.Result {
	return jobs.Result{
		Status: jobs.Canceled, StatusCode: 409, ReasonCode: 0,
		Results: message("The operation was canceled; the %s was left as it was.", describeObject(r.obj)),
	}
}

func stoppedResult(r *run) jobs.Result {
	return jobs.Result{
		Status: jobs.Complete, StatusCode: 503, ReasonCode: 1,
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
	Status: jobs.Complete, StatusCode: 503, ReasonCode: 1,
	Results: message("The simulated Support Element restarted while the operation ran; its outcome is unknown."),
}
