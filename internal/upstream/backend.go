package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// parseRoute matches method and uri against the requests the client
// forwards: those of bcpii.MatchOperation, with object ids and element
// names (activation profiles) that validID accepts. An unknown path, or an
// id the client would not forward, is 404.1 and a known path with another
// method 405.0, as the gateway answers them itself.
func parseRoute(method, uri string) (bcpii.Match, error) {
	if obj, ok := bcpii.Addressed(uri); ok && !validID(obj.ID) {
		return bcpii.Match{}, hmcerr.ErrNotFound
	}
	m, err := bcpii.MatchOperation(method, uri)
	if err == nil && m.Route.Pattern != "" && strings.HasSuffix(m.Route.Pattern, "{name}") && !validID(m.Element) {
		return bcpii.Match{}, hmcerr.ErrNotFound
	}
	return m, err
}

// validID reports whether s can be an object or job id in a URI: URI
// unreserved characters only, so that it can neither escape its segment
// nor change meaning when the upstream decodes it.
func validID(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// validQuery reports whether a raw query can be forwarded as it is:
// printable ASCII without '#'.
func validQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if q[i] <= ' ' || q[i] >= 0x7f || q[i] == '#' {
			return false
		}
	}
	return true
}

// Invoke forwards a caller's request. A started operation's job is in the
// registry, owned by req.Owner(), before Invoke answers 202 with its URI; it
// waits for Run to take the job over, and answers 503.1 once Run has
// ended.
func (c *Client) Invoke(ctx context.Context, req bcpii.OperationRequest) (bcpii.OperationResponse, error) {
	rt, err := parseRoute(req.Method, req.URI)
	if err != nil {
		return bcpii.OperationResponse{}, err
	}
	if _, q, _ := strings.Cut(req.URI, "?"); !validQuery(q) {
		return bcpii.OperationResponse{}, hmcerr.ErrBadQueryParm
	}
	if req.Principal.IsPartition() && rt.Route.Target != bcpii.TargetNone && req.Target.IsZero() {
		// The server checks X-API-Target-Name only against objects whose
		// target name Resolve knows; the others must not be reached by a
		// partition at all.
		if c.targets.unreachable() {
			return bcpii.OperationResponse{}, hmcerr.ErrUnavailable
		}
		return bcpii.OperationResponse{}, hmcerr.ErrNotFound
	}
	select {
	case <-c.stopped:
		return bcpii.OperationResponse{}, hmcerr.ErrUnavailable
	default:
	}
	if rt.Route.Action != "" {
		if err := c.recoveredBy(ctx); err != nil {
			return bcpii.OperationResponse{}, err
		}
	}
	var body []byte
	if len(bytes.TrimSpace(req.Body)) > 0 {
		body = req.Body
	}
	r, err := c.do(ctx, kindOperation, req.Method, req.URI, body)
	if err != nil {
		return bcpii.OperationResponse{}, err
	}
	if !r.ok() {
		return bcpii.OperationResponse{}, backendError(r)
	}
	if r.status != 202 || rt.Route.Action == "" {
		return bcpii.OperationResponse{Status: r.status, Body: r.body}, nil
	}
	ref, fields, err := parseAccepted(r.body)
	if err != nil {
		// The upstream has started something the gateway cannot follow.
		c.log.ErrorContext(ctx, "upstream operation answered 202 without a usable job-uri",
			"operation", req.Method+" "+pathOf(req.URI), "err", err)
		return bcpii.OperationResponse{}, hmcerr.As(err)
	}
	if ref == "" {
		return bcpii.OperationResponse{Status: r.status, Body: r.body}, nil
	}
	job, err := c.register(ctx, req, rt.Route, ref)
	if err != nil {
		return bcpii.OperationResponse{}, err
	}
	fields["job-uri"] = mustJSON(job.URI())
	return bcpii.OperationResponse{Status: 202, Body: objectJSON(fields), JobURI: job.URI()}, nil
}

// register registers the local job of upstream job ref and hands it to
// Run to follow, even if the caller has gone. With replicas, this one
// claims the job before it exists, so that no other replica's search for
// jobs without a follower finds it first.
func (c *Client) register(ctx context.Context, req bcpii.OperationRequest, route bcpii.Route, ref string) (jobs.Job, error) {
	ctx = context.WithoutCancel(ctx)
	h := c.preclaim(ctx)
	job, err := c.reg.Create(ctx, jobs.Spec{
		ID:         h.id,
		Owner:      req.Owner(),
		Target:     req.Target.String(),
		Operation:  req.Method + " " + pathOf(req.URI),
		Cancelable: route.Cancelable,
		BackendRef: ref,
	})
	if err != nil {
		h.drop()
		c.log.ErrorContext(ctx, "upstream job could not be registered", "upstream_job", ref, "err", err)
		return jobs.Job{}, hmcerr.As(err)
	}
	h.job = job
	c.log.InfoContext(ctx, "upstream operation started", "job", job.ID, "upstream_job", ref,
		"operation", job.Operation, "owner", job.Owner.String(), "cancelable", job.Cancelable)
	select {
	case c.handoff <- h:
	case <-c.stopped:
		h.drop()
		c.log.WarnContext(ctx, "upstream job not followed: the backend has stopped", "job", job.ID, "upstream_job", ref)
	}
	return job, nil
}

// recoveredBy waits until Run has settled the jobs of an earlier run, so
// that the settling never sees a job of this one.
func (c *Client) recoveredBy(ctx context.Context) error {
	select {
	case <-c.recovered:
		return nil
	case <-c.stopped:
		return hmcerr.ErrUnavailable
	case <-ctx.Done():
		return hmcerr.ErrUnavailable.WithCause(ctx.Err())
	}
}

// parseAccepted reads a 202 answer: its job-uri, if it has one, must be
// /api/jobs/{id}. The other fields are returned to be passed on.
func parseAccepted(body []byte) (ref string, fields map[string]json.RawMessage, err error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil, nil
	}
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return "", nil, errors.New("upstream: the 202 answer is not a JSON object")
	}
	raw, ok := fields["job-uri"]
	if !ok {
		return "", fields, nil
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		return "", nil, errors.New("upstream: job-uri is not a string")
	}
	id, ok := strings.CutPrefix(ref, "/api/jobs/")
	if !ok || !validID(id) {
		return "", nil, fmt.Errorf("upstream: job-uri %q is not /api/jobs/{id}", ref)
	}
	return ref, fields, nil
}

func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// objectJSON writes fields as compact JSON with keys in lexical order.
func objectJSON(fields map[string]json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(fields)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustJSON(k))
		b.WriteByte(':')
		if err := json.Compact(&b, fields[k]); err != nil {
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Resolve tells the target name of the object uri addresses, if the
// upstream reports one; see the package documentation.
func (c *Client) Resolve(uri string) (bcpii.TargetName, bool) {
	obj, ok := objectOf(uri)
	if !ok {
		return bcpii.TargetName{}, false
	}
	return c.lookupTarget(obj)
}

// objectOf is the object a URI addresses, "/api/{kind}/{id}", as
// bcpii.Addressed sees it, if the client would forward its id.
func objectOf(uri string) (string, bool) {
	obj, ok := bcpii.Addressed(uri)
	if !ok || !validID(obj.ID) {
		return "", false
	}
	return obj.URI(), true
}
