package gateway

import (
	"net/http"
	"strings"
)

// bodyRule says what a route accepts as a request body.
type bodyRule int

const (
	noBody      bodyRule = iota // a non-empty body is 400.4
	jsonObject                  // a JSON object with the fields in method.fields
	backendBody                 // passed to the backend, which judges it
)

// fieldKind is the JSON type a body field must have.
type fieldKind int

const (
	stringField fieldKind = iota
	boolField
	numberField
	objectField
	arrayField
)

// field describes one field of a request body.
type field struct {
	kind     fieldKind
	required bool
}

// route is one REST resource: its path pattern, the methods valid on it,
// the query parameters each method takes, and what happens to a request
// that passes the generic checks.
type route struct {
	// pattern is split on "/"; a segment "{name}" matches any one segment.
	pattern  string
	segments []string
	methods  map[string]method
}

type method struct {
	query []string // accepted query parameter names
	body  bodyRule
	// fields are the body's fields when body is jsonObject; bodyRequired
	// makes an empty body 400.3.
	fields       map[string]field
	bodyRequired bool
	// maxBody is the largest body taken; zero means MaxBodyBytes.
	maxBody int
	// events marks event streams, which also accept text/event-stream.
	events bool
	// rpc is the service method of a request its google.api.http rule
	// declares (HTTPRules); "" for the gateway's own.
	rpc string
	// public requests need no principal: a failed authentication does not
	// answer them. The service says which (server.Unauthenticated).
	public bool
	// anonymous requests are judged without a principal even when one is
	// known: Logon is a web-services request whoever sends it.
	anonymous bool
	// jobID marks routes whose "{job-id}" segment must look like a job id:
	// anything else cannot name a job and answers 404.1.
	jobID bool
	// local, when set, answers the request instead of grpc-gateway's
	// mux; the request's body has been read and its identity is known.
	local func(w http.ResponseWriter, r *http.Request, body []byte, id *Identity)
}

func newRoute(pattern string, methods map[string]method) *route {
	return &route{pattern: pattern, segments: strings.Split(strings.TrimPrefix(pattern, "/"), "/"), methods: methods}
}

// routeTable collects methods into routes, one route per pattern, in the
// order the patterns first come.
type routeTable struct {
	routes    []*route
	byPattern map[string]*route
}

// add serves verb on pattern with m.
func (t *routeTable) add(pattern, verb string, m method) {
	rt := t.byPattern[pattern]
	if rt == nil {
		if t.byPattern == nil {
			t.byPattern = map[string]*route{}
		}
		rt = newRoute(pattern, map[string]method{})
		t.byPattern[pattern] = rt
		t.routes = append(t.routes, rt)
	}
	rt.methods[verb] = m
}

// match matches the raw (still escaped) path and returns the raw values of
// the "{...}" segments in order, appended to params.
func (rt *route) match(rawPath string, params []string) ([]string, bool) {
	rest, ok := strings.CutPrefix(rawPath, "/")
	if !ok {
		return nil, false
	}
	for i, seg := range rt.segments {
		part, after, more := strings.Cut(rest, "/")
		if more != (i < len(rt.segments)-1) {
			return nil, false // fewer or more segments than the route's
		}
		rest = after
		if strings.HasPrefix(seg, "{") {
			if part == "" {
				return nil, false
			}
			params = append(params, part)
			continue
		}
		if part != seg {
			return nil, false
		}
	}
	return params, true
}

func (rt *route) allow() string {
	var ms []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if _, ok := rt.methods[m]; ok {
			ms = append(ms, m)
		}
	}
	return strings.Join(ms, ", ")
}
