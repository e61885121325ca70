package gateway

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// parseQuery splits a raw query string into its parameters, one per
// occurrence and in order, as error bodies list them. ok is false when an
// escape is malformed; the parameters are then returned raw.
func parseQuery(raw string) (parms []queryParm, ok bool) {
	ok = true
	if raw == "" {
		return nil, true
	}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		n, err1 := url.QueryUnescape(name)
		v, err2 := url.QueryUnescape(value)
		if err1 != nil || err2 != nil {
			ok = false
			n, v = name, value
		}
		parms = append(parms, queryParm{Name: n, Value: v})
	}
	return parms, ok
}

// acceptsJSON reports whether an Accept header admits application/json,
// or, for an event stream (events set), text/event-stream.
// No header, or an empty one, admits everything. Malformed ranges are skipped; a header of
// nothing but malformed ranges admits nothing.
func acceptsJSON(values []string, events bool) bool {
	seen := false
	for _, v := range values {
		for _, r := range strings.Split(v, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			seen = true
			mt, params, err := mime.ParseMediaType(r)
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				f, err := strconv.ParseFloat(q, 64)
				if err != nil || f <= 0 {
					continue
				}
			}
			switch mt {
			case "application/json", "application/*", "*/*":
				return true
			case "text/event-stream", "text/*":
				if events {
					return true
				}
			}
		}
	}
	return !seen
}

// checkBody applies a method's body rules: 400.4 for a body where none is
// taken, 400.3 for a missing one, 400.7 for one that is not a JSON object or
// has a field of the wrong type, 400.6 for an unknown field, 400.5 for a
// missing required field.
func checkBody(m method, body []byte) error {
	if m.body == noBody {
		if len(body) > 0 {
			return hmcerr.ErrBodyNotExpected
		}
		return nil
	}
	if m.body == backendBody {
		// The backend judges the bodies of its operations; they reach it
		// in a proto string, which holds UTF-8 only, as JSON text does.
		if !utf8.Valid(body) {
			return errNotJSON
		}
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if m.bodyRequired {
			return errBodyMissing
		}
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return hmcerr.ErrInvalidField.WithMessage("The request body is not a JSON object.")
	}
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, ok := m.fields[name]
		if !ok {
			return errUnknownField.WithMessage("The request body field %q is not valid for this request.", name)
		}
		if !hasKind(obj[name], f.kind) {
			return hmcerr.ErrInvalidField.WithMessage("The request body field %q has the wrong type.", name)
		}
	}
	required := make([]string, 0, len(m.fields))
	for name, f := range m.fields {
		if f.required {
			required = append(required, name)
		}
	}
	sort.Strings(required)
	for _, name := range required {
		if _, ok := obj[name]; !ok {
			return errFieldMissing.WithMessage("The request body lacks the required field %q.", name)
		}
	}
	// The service decodes the body again with protojson, which refuses
	// some JSON that encoding/json takes (bytes that are not UTF-8, a lone
	// surrogate escape, a name given twice) and quotes the body in its
	// error. Such a body is the caller's mistake, and is answered here.
	if protojson.Unmarshal(body, &structpb.Struct{}) != nil {
		return errNotJSON
	}
	return nil
}

func hasKind(raw json.RawMessage, k fieldKind) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch k {
	case stringField:
		return raw[0] == '"'
	case boolField:
		return string(raw) == "true" || string(raw) == "false"
	case numberField:
		return raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')
	case objectField:
		return raw[0] == '{'
	case arrayField:
		return raw[0] == '['
	}
	return false
}

var (
	errBodyMissing  = hmcerr.ErrBodyMissing
	errFieldMissing = hmcerr.ErrFieldMissing
	errUnknownField = hmcerr.ErrUnknownField
	errNotJSON      = hmcerr.ErrInvalidField.WithMessage("The request body is not valid UTF-8 JSON.")
)
