// Package gateway serves the gateway's services as REST in the HMC Web
// Services API's own wire format, so an HMC client cannot tell the gateway
// from an HMC: same paths, JSON, status and reason codes, error bodies and
// headers. It serves the job operations, sessions, the operations and
// listings of OperationService, the Server-Sent Events streams, and the
// OpenAPI document.
//
// Requests pass the HMC's checks in the HMC's order (path 404.1, method
// 405, size 413, Accept 406, authentication 403, query 400.1, body 400.x)
// and then reach the service, through grpc-gateway or OperationService,
// over the gateway's own server's in-process connection. The gateway hands
// the service the facts of each request (its session header, verified
// client certificate, loopback), not a principal: the server's
// authentication interceptor decides who asks, for REST as for gRPC. The
// gateway asks bcpii.Authenticator too, only to name the caller in the
// error bodies of its own checks. Errors of the service arrive as gRPC
// statuses with an HMC detail and are rendered, not decided again.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// ServerName is the Server header of every answer.
const ServerName = "bcpii-gateway"

// The values of the headers every answer carries, set into the header map
// under their canonical keys as they are: shared, never changed, so
// answering allocates no slice for them (Header.Add would copy, not
// change, a full slice).
var (
	serverValue      = []string{ServerName}
	noCacheValue     = []string{"no-cache"}
	contentTypeValue = []string{ContentType}
)

// MaxBodyBytes is the largest request body accepted: the BCPii limit.
const MaxBodyBytes = 64 << 10

// NotificationTopicsPath is Get Notification Topics: the caller's topics on
// the STOMP interface.
const NotificationTopicsPath = "/api/sessions/operations/get-notification-topics"

// OpenAPIPath is where the OpenAPI document of the REST surface is served.
const OpenAPIPath = "/openapi.json"

// Identity is who makes a request, as bcpii.Authenticator decides it from
// the request's credentials: what the gateway's own error bodies name as
// request-authenticated-as. The decision is made once per request and
// shared with the service's authentication interceptor
// (server.Request.Decision).
type Identity struct {
	Principal bcpii.Principal
}

// credentialsOf collects the facts of a request (bcpii.CredentialsOf): its
// X-API-Session, the client certificate its TLS connection verified, and
// whether it comes from loopback (when loopback counts as local). No other
// header enters: none can make a request a partition's.
func credentialsOf(r *http.Request, loopback bool) bcpii.Credentials {
	var remote net.Addr
	var tcp net.TCPAddr // on the stack, with its address: no allocation
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ip := ap.Addr().As16()
		tcp.IP, tcp.Port = ip[:], int(ap.Port())
		remote = &tcp
	}
	return bcpii.CredentialsOf(r.Header["X-Api-Session"], r.TLS, remote, loopback)
}

// requestIdentity is a request's decision, made when first needed. An
// anonymous request (Logon) names no one in its error bodies.
type requestIdentity struct {
	decision  *bcpii.Decision // &made, once decided
	made      bcpii.Decision
	anonymous bool
	id        Identity // known's answer, once asked
	idKnown   bool
}

// known is who asks, or nil when that is not known (anonymous, or not
// authenticated).
func (ri *requestIdentity) known(ctx context.Context) *Identity {
	if ri == nil || ri.anonymous {
		return nil
	}
	if !ri.idKnown {
		id, err := ri.decision.Identity(ctx)
		if err != nil {
			return nil
		}
		ri.id, ri.idKnown = Identity{Principal: id.Principal}, true
	}
	return &ri.id
}

// Config configures a Gateway.
type Config struct {
	// Conn reaches the gateway's own gRPC server in-process
	// (server.Server.InProcess), which authenticates each request from the
	// decision the gateway made of who asks (server.Request.Decision).
	// Required.
	Conn grpc.ClientConnInterface
	// Authenticator names who asks in the gateway's own error bodies.
	// Required.
	Authenticator *bcpii.Authenticator
	// Loopback counts connections from a loopback address as local.
	Loopback bool
	// OpenAPI is the document served at OpenAPIPath; nil serves none.
	OpenAPI []byte
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// Clock times event-stream heartbeats; nil means the system clock.
	Clock clock.Clock
	// Heartbeat is how often an idle event stream gets a comment line;
	// zero means DefaultHeartbeat.
	Heartbeat time.Duration
	// OnAccess, when set, is told of every request once it is answered.
	OnAccess func(context.Context, Access)
}

// Gateway is the REST handler.
type Gateway struct {
	mux  *runtime.ServeMux
	ops  bcpiiv1.OperationServiceClient
	jobs bcpiiv1.JobServiceClient
	// call, when Config.Conn is the in-process channel, calls a unary
	// method and hands its answer over as it is, uncopied (inproc.Call).
	call      func(ctx context.Context, method string, args proto.Message) (proto.Message, error)
	clock     clock.Clock
	heartbeat time.Duration

	streamsMu sync.Mutex
	streams   map[net.Conn]struct{}
	ends      map[*context.CancelFunc]struct{} // end the running event streams
	closed    bool                             // Close was called: streams end at once
	draining  bool                             // Shutdown was called: no new streams
	drained   chan struct{}                    // closed when draining and no stream runs
	cut       atomic.Bool                      // streams are ended by shutdown: tell them so
	gone      chan struct{}                    // closed when, after the cut, no stream connection is open
	writers   *connWriters                     // write the hijacked streams
	auth      *bcpii.Authenticator
	loopback  bool
	routes    []*route
	openAPI   []byte
	log       *slog.Logger
	onAccess  func(context.Context, Access)
}

// New builds the REST handler.
func New(cfg Config) (*Gateway, error) {
	if cfg.Conn == nil || cfg.Authenticator == nil {
		return nil, errors.New("gateway: Config.Conn and Config.Authenticator are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	g := &Gateway{
		auth:      cfg.Authenticator,
		loopback:  cfg.Loopback,
		openAPI:   cfg.OpenAPI,
		log:       cfg.Logger,
		ops:       bcpiiv1.NewOperationServiceClient(cfg.Conn),
		jobs:      bcpiiv1.NewJobServiceClient(cfg.Conn),
		clock:     cfg.Clock,
		heartbeat: cfg.Heartbeat,
		onAccess:  cfg.OnAccess,
		streams:   make(map[net.Conn]struct{}),
		ends:      make(map[*context.CancelFunc]struct{}),
		drained:   make(chan struct{}),
		writers:   newConnWriters(cfg.Clock),
	}
	if ch, ok := cfg.Conn.(interface {
		Call(context.Context, string, proto.Message) (proto.Message, error)
	}); ok {
		g.call = ch.Call
	}
	g.mux = g.newMux()
	if err := bcpiiv1.RegisterJobServiceHandlerClient(context.Background(), g.mux, bcpiiv1.NewJobServiceClient(cfg.Conn)); err != nil {
		return nil, err
	}
	if err := bcpiiv1.RegisterSessionServiceHandlerClient(context.Background(), g.mux, bcpiiv1.NewSessionServiceClient(cfg.Conn)); err != nil {
		return nil, err
	}
	g.routes = ruleRoutes(map[string]method{
		"/bcpii.v1.JobService/GetJob":    {jobID: true, local: g.queryJob},
		"/bcpii.v1.JobService/DeleteJob": {jobID: true},
		"/bcpii.v1.JobService/CancelJob": {jobID: true, body: noBody},
		"/bcpii.v1.SessionService/Logon": {anonymous: true, body: jsonObject, bodyRequired: true, fields: map[string]field{
			"userid":     {kind: stringField, required: true},
			"password":   {kind: stringField, required: true},
			"client-tag": {kind: stringField}, // accepted and ignored
		}},
		"/bcpii.v1.SessionService/Logoff":                {},
		"/bcpii.v1.SessionService/GetNotificationTopics": {},
		"/bcpii.v1.SessionService/GetVersion":            {},
	})
	g.routes = append(g.routes,
		newRoute("/api/jobs/{job-id}/events", map[string]method{http.MethodGet: {jobID: true, events: true, local: g.jobEvents}}),
		newRoute(JobCompletionsPath, map[string]method{http.MethodGet: {events: true, local: g.completionEvents}}),
	)
	g.routes = append(g.routes, g.submitRoute())
	g.routes = append(g.routes, g.operationRoutes()...)
	if g.openAPI != nil {
		g.routes = append(g.routes, newRoute(OpenAPIPath, map[string]method{http.MethodGet: {local: g.serveOpenAPI}}))
		doc, err := openAPIDocument(g.openAPI, g.routes)
		if err != nil {
			return nil, err
		}
		g.openAPI = doc
	}
	return g, nil
}

// newMux is the grpc-gateway mux the generated routes run on, speaking the
// HMC's JSON and errors.
func (g *Gateway) newMux() *runtime.ServeMux {
	none := func(string) (string, bool) { return "", false }
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler{}),
		runtime.WithErrorHandler(g.serviceError),
		runtime.WithRoutingErrorHandler(g.routingError),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(none),
		runtime.WithOutgoingTrailerMatcher(none),
		runtime.WithForwardResponseOption(answerStatus),
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
		runtime.WithWriteContentLength(),
		runtime.WithUnescapingMode(runtime.UnescapingModeAllExceptReserved),
	)
}

// incomingHeader forwards to the service only the headers it judges by.
// Everything else, Grpc-Metadata-* and the forwarded principal included,
// stays out.
func incomingHeader(h string) (string, bool) {
	switch {
	case strings.EqualFold(h, "X-API-Target-Name"):
		return rpctypes.TargetKey, true
	case strings.EqualFold(h, "X-API-Session"):
		return rpctypes.SessionKey, true // Logoff needs to know which
	}
	return "", false
}

// answerStatus gives Cancel its 202 and Delete its 204, with no body and no
// Content-Type, as the HMC answers them.
func answerStatus(_ context.Context, w http.ResponseWriter, m proto.Message) error {
	switch m.(type) {
	case *bcpiiv1.CancelJobResponse:
		w.Header().Del("Content-Type")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
	case *bcpiiv1.DeleteJobResponse, *bcpiiv1.LogoffResponse:
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// serve runs the HMC's checks in the HMC's order, then hands the request
// to the service.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Server"], h["Cache-Control"] = serverValue, noCacheValue

	// Who asks is decided once, when first needed: for an error body
	// that names the caller, or for a request that needs an identity. The
	// service's interceptor takes the same decision.
	creds := credentialsOf(r, g.loopback)
	info := accessFrom(r.Context())
	if info == nil {
		info = newAccessInfo(server.NewRequestID())
		r = r.WithContext(server.WithRequest(r.Context(), info))
	}
	ctx := r.Context()
	ri := &info.ri
	ri.decision = g.auth.DecideIn(&ri.made, creds)
	rt, params := g.match(r.URL.EscapedPath(), info.params[:0])
	if rt != nil {
		info.route = rt.pattern
	}
	if rt == nil {
		g.writeError(w, r, ri.known(ctx), hmcerr.ErrNotFound)
		return
	}
	m, ok := rt.methods[r.Method]
	if !ok {
		h.Set("Allow", rt.allow())
		g.writeError(w, r, ri.known(ctx), hmcerr.ErrMethodNotAllowed)
		return
	}
	ri.anonymous = m.anonymous
	body, err := readBody(r, m.maxBody)
	if err != nil {
		g.writeError(w, r, ri.known(ctx), err)
		return
	}
	if !acceptsJSON(r.Header.Values("Accept"), m.events) {
		g.writeError(w, r, ri.known(ctx), errNotAcceptable)
		return
	}
	if !m.public {
		if _, err := ri.decision.Identity(ctx); err != nil {
			g.writeError(w, r, nil, err)
			return
		}
	}
	if err := checkQuery(m, r.URL.RawQuery); err != nil {
		g.writeError(w, r, ri.known(ctx), err)
		return
	}
	if err := checkBody(m, body); err != nil {
		g.writeError(w, r, ri.known(ctx), err)
		return
	}
	if m.jobID && !jobs.ValidID(params[0]) {
		g.writeError(w, r, ri.known(ctx), hmcerr.ErrNotFound)
		return
	}
	info.calls.Decision = ri.decision
	if m.local != nil {
		m.local(w, r, body, ri.known(ctx))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.Header.Del("Te") // no trailers: answers are plain HTTP/1.1 bodies
	// gRPC metadata holds printable ASCII only, and grpc-gateway drops
	// any other value: a malformed X-API-Target-Name would count as
	// missing, or vanish beside a right one. Escaped, it stays there,
	// malformed, to be judged in its turn.
	for i, v := range r.Header["X-Api-Target-Name"] {
		r.Header["X-Api-Target-Name"][i] = escapeNonPrintable(v)
	}
	g.mux.ServeHTTP(w, r)
}

// checkQuery refuses a query that does not parse or names a parameter
// the method does not take.
func checkQuery(m method, raw string) error {
	parms, ok := parseQuery(raw)
	if !ok {
		return hmcerr.ErrBadQueryParm
	}
	for _, q := range parms {
		if !slices.Contains(m.query, q.Name) {
			return hmcerr.ErrBadQueryParm.WithMessage("The query parameter %q is not valid for this request.", q.Name)
		}
	}
	return nil
}

// escapeNonPrintable writes the bytes of s outside printable ASCII as \xHH.
func escapeNonPrintable(s string) string {
	if !strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// match finds the route of the raw path, and its parameters appended to
// params.
func (g *Gateway) match(rawPath string, params []string) (*route, []string) {
	for _, rt := range g.routes {
		if params, ok := rt.match(rawPath, params); ok {
			return rt, params
		}
	}
	return nil, nil
}

var (
	errTooLarge      = hmcerr.ErrTooLarge
	errNotAcceptable = hmcerr.ErrNotAcceptable
)

// readBody reads a body of at most limit bytes (zero: MaxBodyBytes).
func readBody(r *http.Request, limit int) ([]byte, error) {
	tooLarge := errTooLarge
	if limit <= 0 {
		limit = MaxBodyBytes
	} else if limit != MaxBodyBytes {
		tooLarge = errTooLarge.WithMessage("The request body is larger than %d bytes.", limit)
	}
	if r.ContentLength > int64(limit) {
		return nil, tooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, hmcerr.ErrBodyUnreadable.WithCause(err)
	}
	if len(b) > limit {
		return nil, tooLarge
	}
	return b, nil
}

func (g *Gateway) serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ []byte, _ *Identity) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(g.openAPI)))
	_, _ = w.Write(g.openAPI)
}

// writeError answers with the HMC error body for err.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, id *Identity, err error) {
	e := hmcerr.As(err)
	if e.Kind == hmcerr.Internal && e.Cause != nil {
		g.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", e.Cause)
	}
	g.writeBody(w, r, id, errorBody{HTTPStatus: e.HTTPStatus, Reason: e.Reason, Message: e.Message})
}

func (g *Gateway) writeBody(w http.ResponseWriter, r *http.Request, id *Identity, body errorBody) {
	body.Method = r.Method
	body.URI = r.RequestURI
	body.QueryParms, _ = parseQuery(r.URL.RawQuery)
	if id != nil && !id.Principal.IsZero() {
		body.AuthenticatedAs = id.Principal.String()
		if id.Principal.IsPartition() && body.BCPiiError == nil {
			t := true
			body.BCPiiError = &t
		}
	}
	if info := accessFrom(r.Context()); info != nil {
		info.reason = body.Reason
	}
	b := body.appendJSON(make([]byte, 0, 256))
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Del("Transfer-Encoding")
	w.WriteHeader(body.HTTPStatus)
	_, _ = w.Write(b)
}

// serviceError renders what the service answered: the HMC detail decides
// the status and reason.
func (g *Gateway) serviceError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	id := identityFrom(ctx)
	if d, ok := rpctypes.HMCDetail(err); ok {
		body := errorBody{HTTPStatus: int(d.HttpStatus), Reason: int(d.Reason), Message: d.Message}
		if d.BcpiiError != nil {
			v := d.GetBcpiiError()
			body.BCPiiError = &v
		}
		g.writeBody(w, r, id, body)
		return
	}
	// No detail: the service was not reached or failed below the
	// interceptors. Say so without detail.
	st := status.Convert(err)
	g.log.ErrorContext(ctx, "service answered without HMC detail", "code", st.Code().String(), "err", st.Message())
	e := hmcerr.As(errors.New(st.Message()))
	if st.Code() == codes.Unavailable {
		e = hmcerr.ErrStopping
	}
	g.writeBody(w, r, id, errorBody{HTTPStatus: e.HTTPStatus, Reason: e.Reason, Message: e.Message})
}

// routingError answers what grpc-gateway's own router rejects; the
// gateway's route table normally answers these first.
func (g *Gateway) routingError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	id := identityFrom(ctx)
	err := hmcerr.ErrNotFound
	if httpStatus == http.StatusMethodNotAllowed {
		err = hmcerr.ErrMethodNotAllowed
	}
	g.writeError(w, r, id, err)
}
