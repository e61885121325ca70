package gateway

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// RequestIDHeader carries the request's id on every REST answer, as the
// x-request-id header metadata does on gRPC. The calls the request makes
// to the service share the id, so one id finds every line of the request.
const RequestIDHeader = "X-Request-Id"

// Access is what the gateway tells of one answered request, for an access
// log and metrics. Every value but RequestID is from a small fixed set.
type Access struct {
	Method string // as received if one the gateway serves, else "other"
	// Route is the path pattern the request matched, such as
	// /api/jobs/{job-id}; "unmatched" when none did.
	Route string
	// Status is the HTTP status answered, and Reason the HMC reason code
	// of an error body (0 otherwise).
	Status, Reason int
	// Principal is the kind of who asked: "partition", "user" or "none".
	Principal string
	RequestID string
	// Duration runs until the handler returns; an event stream that took
	// its connection over runs on after that.
	Duration time.Duration
	// RPC is the full method of the last unary call the request made to
	// the service in-process ("" if none), Code that call's gRPC code, and
	// Calls how many calls it made. Those calls log no line of their own.
	RPC, Code string
	Calls     int
	// Path is the path of a request that matched no route (Route
	// "unmatched"), escaped as received and cut at 256 bytes, so that an
	// operator sees what a client asked for that the gateway does not
	// serve; "" for the others, whose Route says it. It holds no query.
	Path string
}

// Route patterns of requests that match no route.
const unmatchedRoute = "unmatched"

// accessInfo is what the handler learns of a request as it answers it,
// and what it keeps for it: one allocation and one context value per
// request (server.Holder), shared with the calls it makes in-process.
type accessInfo struct {
	route  string
	reason int
	calls  server.Request
	ri     requestIdentity // who asks, once decided (ri.decision)
	rec    recorder
	idv    [1]string // the X-Request-Id header's value
	params [4]string // room for the route's parameters
	length [1]string // room for a small answer's Content-Length (queryJob)
}

func newAccessInfo(id string) *accessInfo {
	return &accessInfo{route: unmatchedRoute, calls: server.Request{ID: id}}
}

// ServerRequest is the request the calls share (server.Holder).
func (a *accessInfo) ServerRequest() *server.Request { return &a.calls }

func accessFrom(ctx context.Context) *accessInfo {
	a, _ := server.HolderFrom(ctx).(*accessInfo)
	return a
}

// ServeHTTP gives the request its id, answers it (serve), and tells
// Config.OnAccess how it went.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := server.NewRequestID()
	info := newAccessInfo(id)
	info.idv[0] = id
	w.Header()[RequestIDHeader] = info.idv[:]
	ctx := server.WithRequest(r.Context(), info)
	info.rec.ResponseWriter = w
	g.serve(&info.rec, r.WithContext(ctx))
	// An event stream's context, which holds info, outlives the handler
	// on a connection it took over: net/http's per-request state goes.
	info.rec.ResponseWriter = nil
	if g.onAccess == nil {
		return
	}
	status := info.rec.status
	if status == 0 {
		status = http.StatusOK
	}
	a := Access{Method: r.Method, Route: info.route, Status: status, Reason: info.reason,
		Principal: principalKind(ctx, info.ri.decision), RequestID: id, Duration: time.Since(start)}
	if info.calls.Calls > 0 {
		a.RPC, a.Code, a.Calls = info.calls.Method, info.calls.Code.String(), info.calls.Calls
	}
	if !knownMethod(r.Method) {
		a.Method = "other"
	}
	if info.route == unmatchedRoute {
		a.Path = r.URL.EscapedPath()
		if len(a.Path) > 256 {
			a.Path = a.Path[:256] + "..."
		}
	}
	g.onAccess(ctx, a)
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodHead,
		http.MethodPatch, http.MethodOptions:
		return true
	}
	return false
}

// principalKind names the kind of caller d decides on, "none" where it
// finds none. A request that needed no identity (Logon, the API version)
// has it decided here, once, for the record.
func principalKind(ctx context.Context, d *bcpii.Decision) string {
	var p bcpii.Principal
	if d != nil {
		id, _ := d.Identity(ctx)
		p = id.Principal
	}
	switch {
	case p.IsPartition():
		return "partition"
	case !p.IsZero():
		return "user"
	}
	return "none"
}

// recorder notes the status a handler answers. It passes Flush, Hijack
// and Unwrap through, so that event streams work as without it.
type recorder struct {
	http.ResponseWriter
	status int
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.ResponseWriter.Write(b)
}

func (rw *recorder) Flush() {
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection over; an event stream then writes its own
// 200 status line.
func (rw *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := rw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("gateway: the connection cannot be taken over")
	}
	c, brw, err := hj.Hijack()
	if err == nil && rw.status == 0 {
		rw.status = http.StatusOK
	}
	return c, brw, err
}

func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
