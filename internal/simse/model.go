package simse

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// The data model: one table per class of object the simulated SE serves,
// each property with its JSON type, whether Update Properties may write
// it, and the value a simulated object has unless the inventory or the
// SE's own state says otherwise. The names and types are the HMC Web
// Services API book's (the "Data model" section of each object); an
// object's answer to Get Properties is its class's table, every property
// present. Properties that follow the object's state (status, the
// last-used values of an LPAR, ...) are in the table too, and the SE sets
// them when it answers.

// jsonType is the JSON type of a property.
type jsonType uint8

const (
	tString  jsonType = iota + 1
	tBool             // true or false
	tInt              // an integer
	tFloat            // any number
	tStrings          // an array of strings
	tObject           // an object
	tObjects          // an array of objects
)

func (t jsonType) String() string {
	switch t {
	case tString:
		return "a string"
	case tBool:
		return "a boolean"
	case tInt:
		return "an integer"
	case tFloat:
		return "a number"
	case tStrings:
		return "an array of strings"
	case tObject:
		return "an object"
	}
	return "an array of objects"
}

// mode says on which CPCs a property exists: a CPC's classic-only
// properties are absent in DPM mode, and the other way round.
type mode uint8

const (
	both mode = iota
	classicOnly
	dpmOnly
)

// prop is one property of a class.
type prop struct {
	name string
	typ  jsonType
	// null: the property may be null.
	null bool
	// writable: Update Properties may set it.
	writable bool
	// def is the default as JSON text; "null" needs null.
	def  string
	mode mode
}

// class is the table of one class of object.
type class struct {
	name   string
	props  []prop
	byName map[string]*prop
}

func newClass(name string, props ...prop) *class {
	c := &class{name: name, props: props, byName: make(map[string]*prop, len(props))}
	for i := range c.props {
		p := &c.props[i]
		if _, dup := c.byName[p.name]; dup {
			panic("simse: property " + p.name + " twice in class " + name)
		}
		c.byName[p.name] = p
	}
	return c
}

// defaults are a fresh copy of the class's default values, for a CPC in
// DPM mode or not.
func (c *class) defaults(dpm bool) map[string]any {
	out := make(map[string]any, len(c.props))
	for _, p := range c.props {
		if p.mode == classicOnly && dpm || p.mode == dpmOnly && !dpm {
			continue
		}
		out[p.name] = decodeJSON(p.def)
	}
	return out
}

func decodeJSON(s string) any {
	var v any
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		panic("simse: default " + s + " is not JSON: " + err.Error())
	}
	return normalizeNumbers(v)
}

// normalizeNumbers turns json.Number into int64 or float64, so that values
// compare and marshal alike whether they came from a default or a body.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalizeNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeNumbers(x[k])
		}
	}
	return v
}

// hasType reports whether v, decoded with normalizeNumbers, is of type t
// (or null where p allows it).
func (p *prop) hasType(v any) bool {
	if v == nil {
		return p.null
	}
	switch p.typ {
	case tString:
		_, ok := v.(string)
		return ok
	case tBool:
		_, ok := v.(bool)
		return ok
	case tInt:
		_, ok := v.(int64)
		return ok
	case tFloat:
		switch v.(type) {
		case int64, float64:
			return true
		}
		return false
	case tStrings:
		a, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range a {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	case tObject:
		_, ok := v.(map[string]any)
		return ok
	case tObjects:
		a, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range a {
			if _, ok := e.(map[string]any); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// parseUpdate checks the body of an Update Properties request of an object
// of class c (on a CPC in DPM mode or not) and returns the values to set.
// Nothing is returned unless every field is a writable property of the
// right type: an update is all or nothing. Its errors name the property:
// 400.7 for a body that is no JSON object or a value of the wrong type,
// 400.6 for a property the object does not have or that is not writable.
// check, when set, judges the values further (ranges, references).
func (c *class) parseUpdate(body []byte, dpm bool, check func(name string, v any) error) (map[string]any, error) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil, hmcerr.ErrBodyMissing
	}
	d := json.NewDecoder(bytes.NewReader(t))
	d.UseNumber()
	var fields map[string]any
	if err := d.Decode(&fields); err != nil || fields == nil || d.More() {
		return nil, hmcerr.ErrInvalidField.WithMessage("The request body is not a JSON object.")
	}
	out := make(map[string]any, len(fields))
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		p := c.byName[name]
		if p == nil || p.mode == classicOnly && dpm || p.mode == dpmOnly && !dpm {
			return nil, hmcerr.ErrUnknownField.WithMessage("The %s has no property %q.", c.name, name)
		}
		if !p.writable {
			return nil, hmcerr.ErrUnknownField.WithMessage("The property %q of the %s is not writable.", name, c.name)
		}
		v := normalizeNumbers(fields[name])
		if !p.hasType(v) {
			null := ""
			if p.null {
				null = " or null"
			}
			return nil, hmcerr.ErrInvalidField.WithMessage("The property %q must be %s%s.", name, p.typ, null)
		}
		if check != nil {
			if err := check(name, v); err != nil {
				return nil, err
			}
		}
		out[name] = v
	}
	return out, nil
}
