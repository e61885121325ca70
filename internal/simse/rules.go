package simse

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	paramSet      bool   // the body gives load-parameter
	wwpn, lun     string // of a SCSI load or dump
	// act is the activation an activate makes, resolved when it starts.
	act activation
}

// parseBody checks a request body against the route's body fields
// (bcpii.Route.Body) and reads the options the SE uses.
func parseBody(route bcpii.Route, body []byte) (options, error) {
	var o options
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		for _, f := range route.Body {
			if f.Required {
				return o, hmcerr.ErrBodyMissing
			}
		}
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
	known := slices.Clone(route.Body)
	slices.SortFunc(known, func(a, b bcpii.BodyField) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range known {
		if _, ok := fields[f.Name]; f.Required && !ok {
			return o, hmcerr.ErrFieldMissing.WithMessage("The request body lacks the required field %q.", f.Name)
		}
	}
	for _, f := range known {
		name := f.Name
		raw, ok := fields[name]
		if !ok {
			continue
		}
		raw = bytes.TrimSpace(raw)
		switch f.Type {
		case "boolean":
			if s := string(raw); s != "true" && s != "false" {
				return o, hmcerr.ErrInvalidField.WithMessage("The field %s must be a boolean.", name)
			}
			if name == "force" {
				o.force = string(raw) == "true"
			}
		case "integer":
			var n int64
			if json.Unmarshal(raw, &n) != nil || n < 0 {
				return o, hmcerr.ErrInvalidField.WithMessage("The field %s must be a non-negative integer.", name)
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
	case "world-wide-port-name", "logical-unit-number", "boot-record-logical-block-address":
		if !validHex(v, 1, 16) {
			return hmcerr.ErrInvalidField.WithMessage("The field %s must be 1 to 16 hexadecimal digits.", name)
		}
		if name == "world-wide-port-name" {
			o.wwpn = strings.ToLower(v)
		} else if name == "logical-unit-number" {
			o.lun = strings.ToLower(v)
		}
	}
	return nil
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

// wrongState says why op cannot run on o as it is, or "" if it can: an
// object whose CPC does not operate runs nothing, and then the state rules
// decide (staterules.go).
func wrongState(o *object, op string, opts options) string {
	if c := o.parent; c != nil && c.status != "operating" {
		return fmt.Sprintf("The %s has status %s.", describeObject(c), c.status)
	}
	if r := ruleFor(o.kind, op); r != nil {
		return r.refusal(o, opts.force)
	}
	return ""
}

// transition is what op does to o when it succeeds: the status its rule
// gives while it runs and after, and for an LPAR what the activation, load
// or SCSI operation leaves besides.
func transition(o *object, op string, opts options) (during string, res jobs.Result, effect func()) {
	r := ruleFor(o.kind, op)
	if r == nil {
		return "", jobs.Result{Status: jobs.Complete, StatusCode: 204}, nil
	}
	if o.kind == bcpii.KindLogicalPartition {
		res = jobs.Result{Status: jobs.Complete, StatusCode: 200, Results: message("Logical partition %s %s.", o.name, r.verb)}
		return string(r.during), res, func() {
			o.status = string(r.after)
			lparEffect(o, r, opts)
		}
	}
	return string(r.during), jobs.Result{Status: jobs.Complete, StatusCode: 204}, func() {
		o.status = string(r.after)
		if o.kind == bcpii.KindCPC && op == "stop" {
			// Stopping a CPC stops its partitions with it.
			for _, c := range o.children {
				c.status = string(Stopped)
			}
		}
	}
}

// lparEffect is what a successful LPAR operation leaves besides its
// status: an activation its profile, mode and, when the profile loads,
// operating and the load's address; a load (its rule names a load type)
// its address, parameter and type, and a SCSI one its port and unit. It
// runs under SE.mu.
func lparEffect(o *object, r *stateRule, opts options) {
	switch {
	case r.op == "activate":
		a := opts.act
		o.lpar.lastProfile, o.lpar.mode = a.profile, a.mode
		if a.loads {
			o.status = string(Operating)
			o.lpar.loadAddress, o.lpar.loadParameter = a.address, a.param
		}
	case r.loadType != "":
		o.lpar.loadAddress, o.lpar.loadParameter = opts.loadAddress, opts.loadParameter
		o.lpar.loadType = r.loadType
		if opts.wwpn != "" {
			o.props["last-used-world-wide-port-name"], o.props["last-used-logical-unit-number"] = opts.wwpn, opts.lun
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
