package simse

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// The requests that change something at once, without a job (the routes
// marked Sync): Update CPC, Logical Partition and Activation Profile
// Properties, and Send OS Command. An update is checked whole against the
// class's table (model.go) before anything changes: a refused update
// changes nothing.

// syncRequest answers a Sync route's request on obj. It runs under SE.mu.
func (s *SE) syncRequest(m bcpii.Match, obj *object, body []byte) (bcpii.OperationResponse, error) {
	done := bcpii.OperationResponse{Status: 204}
	switch m.Route.Name {
	case "Add Temporary Capacity", "Remove Temporary Capacity":
		return done, changeCapacity(obj, body, m.Route.Name == "Add Temporary Capacity")
	}
	if m.Route.Name == "Send OS Command" {
		return done, s.sendOSCommand(obj, body)
	}
	switch m.Route.Kind {
	case bcpii.KindCPC:
		vals, err := cpcClass.parseUpdate(body, obj.dpm, cpcCheck(obj))
		if err != nil {
			return bcpii.OperationResponse{}, err
		}
		maps.Copy(obj.props, vals)
	case bcpii.KindLogicalPartition:
		vals, err := lparClass.parseUpdate(body, false, lparCheck(obj))
		if err != nil {
			return bcpii.OperationResponse{}, err
		}
		if obj.status == "not-activated" {
			for name := range vals {
				if name != "next-activation-profile-name" && name != "acceptable-status" {
					return bcpii.OperationResponse{}, hmcerr.ErrWrongState.WithMessage(
						"The logical partition %s is not activated; of its properties only next-activation-profile-name and acceptable-status can be updated.", obj.name)
				}
			}
		}
		if name, ok := vals["next-activation-profile-name"].(string); ok {
			obj.nextProfile = strings.ToUpper(name)
			delete(vals, "next-activation-profile-name")
		}
		maps.Copy(obj.props, vals)
	case bcpii.KindImageProfile, bcpii.KindLoadProfile, bcpii.KindResetProfile:
		p := findProfile(obj, m.Route.Kind, m.Element)
		if p == nil || p.name != m.Element {
			return bcpii.OperationResponse{}, hmcerr.ErrNotFound
		}
		vals, err := classes[m.Route.Kind].parseUpdate(body, false, profileCheck)
		if err != nil {
			return bcpii.OperationResponse{}, err
		}
		p.apply(vals)
	default:
		return bcpii.OperationResponse{}, hmcerr.ErrNotFound
	}
	return done, nil
}

// apply sets a profile's properties, those an activation uses included.
func (p *profile) apply(vals map[string]any) {
	for name, v := range vals {
		switch name {
		case "load-at-activation":
			p.image.LoadAtActivation = v.(bool)
		case "operating-mode":
			p.image.OperatingMode = v.(string)
		case "ipl-address":
			p.image.LoadAddress = strings.ToUpper(v.(string))
			p.load.LoadAddress = p.image.LoadAddress
		case "ipl-parameter":
			p.image.LoadParameter = v.(string)
			p.load.LoadParameter = p.image.LoadParameter
		default:
			p.props[name] = v
		}
	}
}

func invalid(name, format string, args ...any) error {
	return hmcerr.ErrInvalidField.WithMessage("The property %q "+format, append([]any{name}, args...)...)
}

// intIn checks that v is an integer from lo to hi.
func intIn(name string, v any, lo, hi int64) error {
	n, ok := v.(int64)
	if !ok || n < lo || n > hi {
		return invalid(name, "must be from %d to %d.", lo, hi)
	}
	return nil
}

func oneOf(name string, v any, allowed []string) error {
	s, _ := v.(string)
	if !slices.Contains(allowed, s) {
		return invalid(name, "must be one of %s.", strings.Join(allowed, ", "))
	}
	return nil
}

func statusList(name string, v any, allowed []string) error {
	for _, e := range v.([]any) {
		if err := oneOf(name, e, allowed); err != nil {
			return err
		}
	}
	return nil
}

func maxLen(name string, v any, n int) error {
	if s, _ := v.(string); len([]rune(s)) > n {
		return invalid(name, "must have at most %d characters.", n)
	}
	return nil
}

// capping checks an absolute capping object: {"type":"none"} or
// {"type":"processors","value":0.01 to 255}.
func capping(name string, v any) error {
	m := v.(map[string]any)
	switch m["type"] {
	case "none":
		if len(m) == 1 {
			return nil
		}
	case "processors":
		f, ok := m["value"].(float64)
		if i, isInt := m["value"].(int64); isInt {
			f, ok = float64(i), true
		}
		if ok && len(m) == 2 && f >= 0.01 && f <= 255 {
			return nil
		}
	}
	return invalid(name, `must be {"type":"none"} or {"type":"processors","value":N} with N from 0.01 to 255.`)
}

func cpcCheck(cpc *object) func(string, any) error {
	return func(name string, v any) error {
		switch name {
		case "description":
			return maxLen(name, v, 1024)
		case "acceptable-status":
			return statusList(name, v, []string{"operating", "not-operating", "no-power", "exceptions", "active", "degraded", "service-required"})
		case "next-activation-profile-name":
			if findProfile(cpc, bcpii.KindResetProfile, v.(string)) == nil {
				return invalid(name, "names no reset activation profile of the CPC.")
			}
		case "processor-running-time-type":
			return oneOf(name, v, []string{"system-determined", "user-determined"})
		case "processor-running-time":
			return intIn(name, v, 0, 100)
		}
		return nil
	}
}

func lparCheck(o *object) func(string, any) error {
	return func(name string, v any) error {
		switch {
		case name == "acceptable-status":
			return statusList(name, v, lparStatuses)
		case name == "next-activation-profile-name":
			n := v.(string)
			if findProfile(o.parent, bcpii.KindImageProfile, n) == nil && findProfile(o.parent, bcpii.KindLoadProfile, n) == nil {
				return invalid(name, "names no image or load activation profile of the CPC.")
			}
		case name == "defined-capacity" && v != nil:
			return intIn(name, v, 0, 1<<31-1)
		case strings.HasPrefix(name, "initial-") && strings.HasSuffix(name, "processing-weight") && v != nil:
			return intIn(name, v, 1, 999)
		case (strings.HasPrefix(name, "minimum-") || strings.HasPrefix(name, "maximum-")) && strings.HasSuffix(name, "processing-weight") && v != nil:
			return intIn(name, v, 0, 999)
		case strings.HasPrefix(name, "absolute-") && strings.HasSuffix(name, "capping"):
			return capping(name, v)
		case strings.HasPrefix(name, "number-") && strings.HasSuffix(name, "-cores"):
			return intIn(name, v, 0, 200)
		}
		return nil
	}
}

func profileCheck(name string, v any) error {
	switch {
	case name == "description":
		return maxLen(name, v, 50)
	case name == "operating-mode":
		return oneOf(name, v, operatingModes)
	case name == "ipl-address":
		if s := v.(string); s != "" && !validLoadAddress(s) {
			return invalid(name, "must be a device number of 4 or 5 hexadecimal digits.")
		}
	case name == "ipl-parameter":
		return maxLen(name, v, 8)
	case name == "load-timeout":
		return intIn(name, v, 60, 600)
	case name == "iocds-name":
		if s := v.(string); s != "" && !validHex(s, 2, 2) {
			return invalid(name, "must be 2 hexadecimal digits.")
		}
	case strings.HasPrefix(name, "initial-") && strings.HasSuffix(name, "processing-weight"):
		return intIn(name, v, 1, 999)
	case strings.HasSuffix(name, "-capping"):
		return capping(name, v)
	}
	return nil
}

// isJSONObjectBody reports whether body is one JSON object, what every
// Sync request takes: 400.3 for none, 400.7 for anything else, before the
// object is looked up.
func isJSONObjectBody(body []byte) error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return hmcerr.ErrBodyMissing
	}
	if t[0] != '{' || !json.Valid(t) {
		return hmcerr.ErrInvalidField.WithMessage("The request body is not a JSON object.")
	}
	return nil
}
