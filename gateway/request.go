package gateway

import (
	"mime"
	"net/url"
	"strconv"
	"strings"
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

// acceptsJSON reports whether an Accept header admits application/json.
// No header, or an empty one, admits everything. Malformed ranges are skipped; a header of
// nothing but malformed ranges admits nothing.
func acceptsJSON(values []string) bool {
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
			}
		}
	}
	return !seen
}
