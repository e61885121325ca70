package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// callInfo is what the interceptors learn about a call as it runs.
type callInfo struct {
	requestID  string
	who        Who               // who asks, once identified
	target     bcpii.TargetCheck // the target rule of who.Caller
	identified bool
}

type callInfoKey struct{}

// callContext is a call's context with its call info: one allocation
// rather than a context value and the info it points to.
type callContext struct {
	context.Context
	info     callInfo
	idv      [1]string
	idb      [2 * idBytes]byte // the request id's characters, when the call made it
	decision bcpii.Decision    // room for the call's own decision (authenticate)
}

// makeID gives the call a fresh request id, kept in the call's own
// allocation: the string refers to c.idb, written once, here.
func (c *callContext) makeID() string {
	putRequestID(&c.idb)
	return unsafe.String(&c.idb[0], len(c.idb))
}

func (c *callContext) Value(key any) any {
	if key == (callInfoKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

// callInfoFrom is the call info of ctx's call: a context value of its own,
// or, for a unary call in-process, the slot of its REST request (begin).
func callInfoFrom(ctx context.Context) *callInfo {
	if info, ok := ctx.Value(callInfoKey{}).(*callInfo); ok {
		return info
	}
	if r := requestFrom(ctx); r != nil && r.inCall {
		return &r.call
	}
	return nil
}

// RequestID returns the id the logging interceptor gave the request.
func RequestID(ctx context.Context) string {
	if info := callInfoFrom(ctx); info != nil {
		return info.requestID
	}
	return ""
}

// idBytes is how many random bytes a request id has.
const idBytes = 8

// newRequestID returns a random id to correlate log lines; it guards
// nothing, so a fast generator serves.
func newRequestID() string {
	var id [2 * idBytes]byte
	putRequestID(&id)
	return string(id[:])
}

// putRequestID writes a random request id, in hex, to id.
func putRequestID(id *[2 * idBytes]byte) {
	var b [idBytes]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	hex.Encode(id[:], b[:])
}

// The interceptors run outermost first: logging gives each request an id
// and logs its outcome; errors turns what the handler returned into a
// status, logging internal causes; recovery turns a panic into Internal;
// authentication decides who asks (identity.go). The four are one
// interceptor (serveUnary, serveStream), which saves the chain a closure
// and a frame for each on every call.

func (s *Server) unaryInterceptors() []grpc.UnaryServerInterceptor {
	return append(s.outerU[:len(s.outerU):len(s.outerU)], s.serveUnary)
}

func (s *Server) streamInterceptors() []grpc.StreamServerInterceptor {
	return append(s.outerS[:len(s.outerS):len(s.outerS)], s.serveStream)
}

type requestKey struct{}

// Request is what a REST request shares with the calls it makes in-process:
// its id, which they take as theirs (a context value, never metadata: no
// remote caller can choose its id), the decision of who asks, which they
// take rather than deciding again, and what its unary calls did. Those
// calls log no line of their own: the request's one access line tells
// their method and code, so a request costs one line, not two. The calls
// of one request are made one after another, never at once.
type Request struct {
	ID string
	// Decision is who asks, as the REST layer decided it from its own
	// connection (bcpii.CredentialsOf); nil: the calls decide.
	Decision *bcpii.Decision
	// Set by each unary call made with the request's context: the last
	// call's method and code, and how many calls there were.
	Method string
	Code   codes.Code
	Calls  int
	// The call info of the unary call in progress, if inCall: a slot in
	// the request rather than a context value of each call's.
	call   callInfo
	inCall bool
}

// A Holder holds a REST request's Request beside what the REST layer keeps
// of the request, so that one context value carries both.
type Holder interface{ ServerRequest() *Request }

// ServerRequest makes a Request its own Holder.
func (r *Request) ServerRequest() *Request { return r }

// WithRequest gives the calls made in-process with ctx the request h holds.
func WithRequest(ctx context.Context, h Holder) context.Context {
	return context.WithValue(ctx, requestKey{}, h)
}

// HolderFrom is what WithRequest gave ctx, or nil.
func HolderFrom(ctx context.Context) Holder {
	h, _ := ctx.Value(requestKey{}).(Holder)
	return h
}

func requestFrom(ctx context.Context) *Request {
	if h := HolderFrom(ctx); h != nil {
		return h.ServerRequest()
	}
	return nil
}

// NewRequestID returns a fresh request id.
func NewRequestID() string { return newRequestID() }

func (s *Server) begin(ctx context.Context, unary bool) context.Context {
	var id string
	r := requestFrom(ctx)
	if r != nil {
		id = r.ID
	}
	// A unary call of a REST request keeps its call info in the request,
	// unless it is made within another call, whose info it must not
	// overwrite.
	if r != nil && unary && ctx.Value(callInfoKey{}) == nil {
		if id == "" {
			id = newRequestID()
		}
		r.call, r.inCall = callInfo{requestID: id}, true
		return ctx
	}
	c := &callContext{Context: ctx}
	if id == "" {
		id = c.makeID()
	}
	c.info.requestID = id
	// A REST request answers the id itself; an in-process stream has no
	// transport stream to carry a header, and asking grpc.SetHeader anyway
	// would only build an error that prints the whole context chain.
	if r == nil && grpc.ServerTransportStreamFromContext(ctx) != nil {
		c.idv[0] = id // the header's value, in the same allocation
		md := headerMDs.Get().(metadata.MD)
		md[rpctypes.RequestIDKey] = c.idv[:]
		_ = grpc.SetHeader(ctx, md)
		delete(md, rpctypes.RequestIDKey)
		headerMDs.Put(md)
	}
	return c
}

// headerMDs holds the maps begin hands grpc.SetHeader. Every transport
// stream a call runs on (grpc-go's, internal/inproc's) joins what it is
// given into its own header (metadata.Join) and keeps nothing of it, so a
// map serves call after call.
var headerMDs = sync.Pool{New: func() any { return metadata.MD{} }}

func (s *Server) logDone(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelInfo
	if code == codes.Internal || code == codes.Unknown {
		level = slog.LevelError
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	// A client can make refusals as fast as it likes: their lines are
	// rate-limited, the others not.
	refused := code != codes.OK && level == slog.LevelInfo
	var buf [10]slog.Attr // room for every attribute: one allocation
	attrs := append(buf[:0],
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", time.Since(start)),
		slog.String("request_id", RequestID(ctx)))
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("peer", p.Addr.String()))
	}
	// A client that hung up canceled its call: that is no HMC error, and
	// its line says so rather than naming the 503 its detail carries.
	if d, ok := rpctypes.HMCDetail(err); ok && code != codes.Canceled {
		attrs = append(attrs, slog.Int("http_status", int(d.HttpStatus)), slog.Int("reason", int(d.Reason)))
	}
	if code == codes.Canceled {
		attrs = append(attrs, slog.String("canceled_by", "client"))
	}
	if refused {
		s.rpcRefusals.log(ctx, s.log, slog.LevelInfo, "rpc", attrs)
		return
	}
	logLine(ctx, s.log, level, "rpc", attrs)
}

// logLine logs one line of msg with attrs at level, without the lookup of
// the caller's program counter that slog.Logger makes for every line and
// no handler here prints.
func logLine(ctx context.Context, log *slog.Logger, level slog.Level, msg string, attrs []slog.Attr) {
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(attrs...)
	_ = log.Handler().Handle(ctx, r)
}

// serveUnary logs, converts errors, recovers and authenticates, in that
// order from the outside in.
func (s *Server) serveUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx = s.begin(ctx, true)
	resp, err := s.guardUnary(ctx, req, info, h)
	err = s.convert(ctx, info.FullMethod, err)
	if r := requestFrom(ctx); r != nil {
		r.Method, r.Code = info.FullMethod, status.Code(err)
		r.Calls++
		r.inCall = false
		return resp, err
	}
	s.logDone(ctx, info.FullMethod, start, err)
	return resp, err
}

// guardUnary authenticates the call and runs it, turning a panic into
// Internal.
func (s *Server) guardUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, s.recovered(ctx, info.FullMethod, p)
		}
	}()
	if err := s.authenticate(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// serveStream is serveUnary for streams: it logs, converts errors,
// recovers and authenticates, in that order from the outside in.
func (s *Server) serveStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	ctx := s.begin(ss.Context(), false)
	ws := middleware.WrapServerStream(ss)
	ws.WrappedContext = ctx
	err := s.convert(ctx, info.FullMethod, s.guardStream(srv, ws, info, h))
	s.logDone(ctx, info.FullMethod, start, err)
	return err
}

// guardStream authenticates the stream and runs it, turning a panic into
// Internal.
func (s *Server) guardStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = s.recovered(ss.Context(), info.FullMethod, p)
		}
	}()
	if err := s.authenticate(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, recvStream{ss, s, info.FullMethod})
}

func (s *Server) convert(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	var who *Who
	if info := callInfoFrom(ctx); info != nil && info.identified {
		who = &info.who
	}
	st := toStatus(err, who, RequestID(ctx))
	if _, made := madeHere(err); !made {
		e := hmcerr.As(err)
		switch {
		case e.Cause == nil:
		case st.Code() == codes.Internal:
			s.log.ErrorContext(ctx, "internal error", "method", method, "request_id", RequestID(ctx), "err", e.Cause)
		case st.Code() == codes.Unavailable:
			// The caller's answer keeps the cause out (a full disk, an
			// upstream that does not answer); the operator's log names it.
			s.unavailable.log(ctx, s.log, slog.LevelWarn, "unavailable", []slog.Attr{
				slog.String("method", method), slog.String("request_id", RequestID(ctx)), slog.Any("err", e.Cause)})
		}
	}
	return st.Err()
}

func (s *Server) recovered(ctx context.Context, method string, p any) error {
	s.log.ErrorContext(ctx, "panic in handler", "method", method, "request_id", RequestID(ctx),
		"panic", p, "stack", string(debug.Stack()))
	return withDetail(codes.Internal, internalError(RequestID(ctx)), nil).Err()
}
