package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// SubmitPath is Submit Requests, the HMC's aggregation service: several
// requests in one, each answered with its own status and body.
const SubmitPath = "/api/services/aggregation/submit"

// Limits of Submit Requests. zhmcclient splits its aggregated requests to
// keep each body under 256,000 bytes, so the gateway takes bodies that
// large here (and only here); MaxSubmitThreads is the HMC's documented
// most, and MaxSubmitRequests bounds the work one request can ask for,
// above the number of short GETs such a body can hold.
const (
	MaxSubmitBodyBytes = 256000
	MaxSubmitThreads   = 10
	MaxSubmitRequests  = 4000
)

// submitRoute is Submit Requests' route. Its body is checked field by
// field here, as for other routes, then request by request in submit.
func (g *Gateway) submitRoute() *route {
	return newRoute(SubmitPath, map[string]method{http.MethodPost: {
		body: jsonObject, bodyRequired: true, maxBody: MaxSubmitBodyBytes, local: g.submit,
		fields: map[string]field{
			"requests":    {kind: arrayField, required: true},
			"req-headers": {kind: arrayField},
			"threads":     {kind: numberField},
		},
	}})
}

// subRequest is one api-request of a Submit Requests body.
type subRequest struct {
	ID         *string         `json:"id"`
	Method     string          `json:"method"`
	URI        string          `json:"uri"`
	Body       json.RawMessage `json:"body"`
	ReqHeaders []apiHeader     `json:"req-headers"`
	// RespHeaders names answer headers the caller wants; every answer's
	// headers are given, so it is accepted and needs nothing more.
	RespHeaders []string `json:"resp-headers"`
}

// apiHeader is a header a sub-request is sent with: a value replaces the
// header, no value removes it.
type apiHeader struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

// subResponse is one api-response: the sub-request's status, headers and
// body (the HMC error body when it failed), with its id.
type subResponse struct {
	ID      *string         `json:"id,omitempty"`
	Status  int             `json:"status"`
	Headers []apiHeader     `json:"headers"`
	Body    json.RawMessage `json:"body"`
}

// submitBody is what checkBody let through.
type submitBody struct {
	Requests   []json.RawMessage `json:"requests"`
	ReqHeaders []apiHeader       `json:"req-headers"`
	Threads    *json.Number      `json:"threads"`
}

// submit runs each sub-request as if it had come alone on the same
// connection, with the same credentials: through serve, so that it is
// authenticated, authorised and checked exactly as alone. Every
// sub-request is checked before any runs, so that a malformed one leaves
// none executed.
func (g *Gateway) submit(w http.ResponseWriter, r *http.Request, body []byte, _ *Identity) {
	reqs, threads, err := parseSubmit(body)
	if err != nil {
		g.writeError(w, r, identityFrom(r.Context()), err)
		return
	}
	out := make([]subResponse, len(reqs))
	sem := make(chan struct{}, threads)
	var wg sync.WaitGroup
	for i := range reqs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = g.runSub(r, reqs[i])
		})
	}
	wg.Wait()
	b, err := json.Marshal(out)
	if err != nil {
		g.writeError(w, r, identityFrom(r.Context()), err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// identityFrom is who makes the request of ctx, as far as it is known.
func identityFrom(ctx context.Context) *Identity {
	info := accessFrom(ctx)
	if info == nil || info.calls.Decision == nil {
		return nil // not decided, or not yet past the gateway's checks
	}
	return info.ri.known(ctx)
}

// checkedSub is a sub-request ready to run.
type checkedSub struct {
	sub    subRequest
	header http.Header
}

// errSubmit is every refusal of a Submit Requests body after the generic
// field checks: 400.7, naming what is wrong, before anything runs.
func errSubmit(format string, args ...any) error {
	return hmcerr.ErrInvalidField.WithMessage(format, args...)
}

// Headers a sub-request may not set: the answers are JSON, and the
// body's media type is the gateway's to say.
var fixedHeaders = map[string]bool{"Content-Type": true, "Accept": true, "Content-Length": true}

func parseSubmit(body []byte) ([]checkedSub, int, error) {
	var sb submitBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&sb); err != nil {
		return nil, 0, errSubmit("The request body is not a valid Submit Requests body.")
	}
	threads := 1
	if sb.Threads != nil {
		n, err := strconv.Atoi(sb.Threads.String())
		if err != nil || n < 1 || n > MaxSubmitThreads {
			return nil, 0, errSubmit("The request body field \"threads\" must be an integer from 1 to %d.", MaxSubmitThreads)
		}
		threads = n
	}
	switch {
	case len(sb.Requests) == 0:
		return nil, 0, errSubmit("The request body field \"requests\" holds no request.")
	case len(sb.Requests) > MaxSubmitRequests:
		return nil, 0, errSubmit("The request body field \"requests\" holds %d requests; at most %d are taken.", len(sb.Requests), MaxSubmitRequests)
	}
	common, err := subHeaders(http.Header{}, sb.ReqHeaders, "req-headers")
	if err != nil {
		return nil, 0, err
	}
	out := make([]checkedSub, len(sb.Requests))
	for i, raw := range sb.Requests {
		where := "requests[" + strconv.Itoa(i) + "]"
		var sub subRequest
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&sub); err != nil {
			return nil, 0, errSubmit("The request body field %q is not a valid request.", where)
		}
		switch sub.Method {
		case http.MethodGet, http.MethodPost, http.MethodDelete:
		default:
			return nil, 0, errSubmit("The request body field %q names the method %q; only GET, POST and DELETE are taken.", where+".method", sub.Method)
		}
		u, err := url.ParseRequestURI(sub.URI)
		if err != nil || !strings.HasPrefix(sub.URI, "/") || u.Host != "" || u.Fragment != "" {
			return nil, 0, errSubmit("The request body field %q is not a request URI.", where+".uri")
		}
		if rawPath := u.EscapedPath(); rawPath == SubmitPath || strings.HasSuffix(rawPath, "/events") || rawPath == JobCompletionsPath {
			return nil, 0, errSubmit("The request body field %q names a request that cannot be submitted here.", where+".uri")
		}
		if t := bytes.TrimSpace(sub.Body); len(t) > 0 && (t[0] != '{' || sub.Method != http.MethodPost) {
			return nil, 0, errSubmit("The request body field %q must be a JSON object, and only for POST.", where+".body")
		}
		h, err := subHeaders(common.Clone(), sub.ReqHeaders, where+".req-headers")
		if err != nil {
			return nil, 0, err
		}
		out[i] = checkedSub{sub: sub, header: h}
	}
	return out, threads, nil
}

// subHeaders applies hs to h.
func subHeaders(h http.Header, hs []apiHeader, where string) (http.Header, error) {
	for _, a := range hs {
		name := http.CanonicalHeaderKey(a.Name)
		if a.Name == "" || fixedHeaders[name] || strings.ContainsAny(a.Name, " :\r\n") {
			return nil, errSubmit("The request body field %q names the header %q, which cannot be set.", where, a.Name)
		}
		if a.Value == nil {
			delete(h, name)
			continue
		}
		if strings.ContainsAny(*a.Value, "\r\n") {
			return nil, errSubmit("The request body field %q gives the header %q a value of more than one line.", where, a.Name)
		}
		h[name] = []string{*a.Value}
	}
	return h, nil
}

// runSub answers one sub-request through serve, on the outer request's
// connection facts: its TLS state, its source address and its session.
// Its answer is recorded, not sent, and is not counted as a request of its
// own in the access log: the outer request is.
func (g *Gateway) runSub(outer *http.Request, c checkedSub) subResponse {
	var body *bytes.Reader
	if len(c.sub.Body) > 0 {
		body = bytes.NewReader(c.sub.Body)
	} else {
		body = bytes.NewReader(nil)
	}
	// Each sub-request counts its own calls (they may run at once) under
	// the outer request's id.
	id := server.NewRequestID()
	if info := accessFrom(outer.Context()); info != nil {
		id = info.calls.ID
	}
	// A sub-request has its own record, which no access line reports.
	ctx := server.WithRequest(outer.Context(), newAccessInfo(id))
	r, _ := http.NewRequestWithContext(ctx, c.sub.Method, c.sub.URI, body) // parsed in parseSubmit
	r.RequestURI = c.sub.URI
	r.RemoteAddr = outer.RemoteAddr
	r.TLS = outer.TLS
	r.Proto, r.ProtoMajor, r.ProtoMinor = outer.Proto, outer.ProtoMajor, outer.ProtoMinor
	if v, ok := outer.Header["X-Api-Session"]; ok {
		r.Header["X-Api-Session"] = v
	}
	for k, v := range c.header {
		r.Header[k] = v
	}
	if len(c.sub.Body) > 0 {
		r.Header.Set("Content-Type", "application/json")
	}
	rec := &memWriter{header: http.Header{}}
	g.serve(rec, r)
	resp := subResponse{ID: c.sub.ID, Status: rec.status, Headers: []apiHeader{}, Body: json.RawMessage("null")}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	for _, k := range []string{"Location", "Allow", "Retry-After"} {
		if v := rec.header.Get(k); v != "" {
			resp.Headers = append(resp.Headers, apiHeader{Name: k, Value: &v})
		}
	}
	if b := bytes.TrimSpace(rec.body.Bytes()); len(b) > 0 && json.Valid(b) {
		resp.Body = b
	}
	return resp
}

// memWriter is the ResponseWriter of a sub-request: it keeps the answer.
type memWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memWriter) Header() http.Header { return m.header }

func (m *memWriter) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}

func (m *memWriter) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.body.Write(b)
}
