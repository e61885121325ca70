package server

import (
	"context"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/ratelog"
)

// A request message that does not parse, or is larger than the limit,
// would fail in gRPC's own receive, which answers the call itself, with
// gRPC's text and no HMC detail, before any handler or interceptor can
// change it. So the server's codec never fails a receive: it leaves the
// message empty and notes it as refused (refusedMessages), and the server's
// handlers (wrapDecode for unary methods, recvStream for streams) answer
// the note in HMC terms: 400.7 and 413.0. Messages larger than
// transportMaxRecv, far above the limit, are still refused by gRPC, which
// writes its status inside the receive, before any handler sees the
// error: a cap that keeps a stream from holding more than 1 MiB of a
// message it will refuse anyway.

var (
	errMalformedMessage = hmcerr.ErrInvalidField.WithMessage("The request message is not valid.")
	errMessageTooLarge  = hmcerr.ErrTooLarge.WithMessage("The request message is larger than 65536 bytes.")
)

// transportMaxRecv is the size above which gRPC refuses a message itself.
const transportMaxRecv = 1 << 20

// refusedMessages notes the messages the codec refused, until the handler
// that received them answers.
type refusedMessages struct{ m sync.Map } // message -> *hmcerr.Error

// codec is the proto codec, refusing messages by note rather than by error.
type codec struct {
	proto    encoding.CodecV2
	max      int
	refusals *refusedMessages
}

func (c codec) Name() string                           { return c.proto.Name() }
func (c codec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if data.Len() > c.max {
		c.refusals.m.Store(v, errMessageTooLarge)
		return nil
	}
	if err := c.proto.Unmarshal(data, v); err != nil {
		if m, ok := v.(proto.Message); ok {
			proto.Reset(m)
		}
		c.refusals.m.Store(v, errMalformedMessage)
	}
	return nil
}

// received answers a receive into v: its error, or the refusal noted for v.
func (s *Server) received(ctx context.Context, method string, v any, err error) error {
	if err != nil {
		return err
	}
	r, ok := s.refused.m.LoadAndDelete(v)
	if !ok {
		return nil
	}
	e := r.(*hmcerr.Error)
	s.refusals.log(ctx, s.log, slog.LevelInfo, "request message refused", []slog.Attr{slog.String("method", method), slog.String("reason", e.Message)})
	return withDetail(grpcCode(e.Kind), e, nil).Err()
}

// wrapDecode has a unary method's handler answer a refused message; the
// generated handler decodes before any interceptor runs.
func (s *Server) wrapDecode(method string, h grpc.MethodHandler) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
		return h(srv, ctx, func(v any) error { return s.received(ctx, method, v, dec(v)) }, ic)
	}
}

// recvStream has a stream's receive answer a refused message.
type recvStream struct {
	grpc.ServerStream
	s      *Server
	method string
}

func (r recvStream) RecvMsg(m any) error {
	return r.s.received(r.Context(), r.method, m, r.ServerStream.RecvMsg(m))
}

// rateLog logs at most a few lines a second (after a burst), and says
// how many it dropped, so that a client sending refusals cannot flood the
// log.
type rateLog struct{ lim *ratelog.Limiter }

func newRateLog() *rateLog { return newRateLogOf(1, 10) }

// newRateLogOf logs at most perSecond lines a second after a burst.
func newRateLogOf(perSecond float64, burst int) *rateLog {
	return &rateLog{lim: ratelog.New(perSecond, burst)}
}

func (r *rateLog) log(ctx context.Context, log *slog.Logger, level slog.Level, msg string, attrs []slog.Attr) {
	ok, dropped := r.lim.Allow()
	if !ok {
		return
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int64("dropped_since_last", dropped))
	}
	logLine(ctx, log, level, msg, attrs)
}

// unknownMethod answers a call of a service or method the server does not
// have, as the HMC answers an unknown path: 404.1, with its detail.
func unknownMethod(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	if len(method) > 128 {
		method = method[:128] + "..."
	}
	e := hmcerr.ErrNotFound.WithMessage("The gateway has no method %q.", method)
	return withDetail(codes.Unimplemented, e, nil).Err()
}
