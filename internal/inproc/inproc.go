// Package inproc is an in-process gRPC channel: a
// grpc.ClientConnInterface that runs a server's interceptors and handlers
// directly, with no transport between, and a grpc.ServiceRegistrar its
// services are registered on.
package inproc

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// In-process calls: the REST gateway calls the gRPC services of its own
// server through a Channel, a grpc.ClientConnInterface that runs the
// server's interceptors and handlers directly, with no transport between.
// Requests, answers and metadata are copied across as over a connection,
// so the handlers cannot tell the difference, and the same identification,
// ownership checks, logging and error mapping apply; the HTTP/2 framing,
// goroutine hand-offs and per-stream buffers of a loopback connection are
// saved. A server stream can go further (Pusher): its messages are handed
// to the receiver on the handler's own goroutine, so an event stream that
// waits for its next message holds one goroutine, the handler's.
//
// Why not a stock grpc.ClientConn over a Unix socket or bufconn: measured
// on a 2-core machine by the benchmarks in gateway/ that can run either way
// (BenchmarkWatchFanout with BCPII_FANOUT_OVER=unix;
// BenchmarkQueryJobStatusREST path=gateway vs path=gateway-unix), the stock
// path costs an idle SSE watcher 17.1 KB heap + 15.2 KB stack against
// 11.2 KB + 4.1 KB in-process (the target is under 16 KiB in all; medians
// of 3 runs). Delivering a job's end to 10,000 watchers took about as long
// either way (p99 135 ms over the socket, 154 ms in-process, medians of 3
// and 5 runs, both spread over tens of milliseconds). Query Job Status
// took 333 µs against 183 µs with one client (bare handler: 106 µs), 110
// µs against 88 µs with 64 (bare: 87 µs), in an earlier run.

// Channel is an in-process channel to the services registered on it.
type Channel struct {
	unary   map[string]unaryHandler
	streams map[string]streamHandler
	chainU  grpc.UnaryServerInterceptor
	chainS  grpc.StreamServerInterceptor
}

var (
	_ grpc.ClientConnInterface = (*Channel)(nil)
	_ grpc.ServiceRegistrar    = (*Channel)(nil)
)

// New returns a channel whose calls run through the interceptors, in
// order, as a server's calls do.
func New(unary []grpc.UnaryServerInterceptor, stream []grpc.StreamServerInterceptor) *Channel {
	return &Channel{
		unary: map[string]unaryHandler{}, streams: map[string]streamHandler{},
		chainU: chainUnary(unary), chainS: chainStream(stream),
	}
}

type unaryHandler struct {
	impl any
	desc grpc.MethodDesc
}

type streamHandler struct {
	impl any
	desc grpc.StreamDesc
}

// RegisterService makes the service's methods callable on c; services are
// registered before the first call. A service registered again is
// ignored: the first registration serves.
func (c *Channel) RegisterService(sd *grpc.ServiceDesc, impl any) {
	for _, m := range sd.Methods {
		name := "/" + sd.ServiceName + "/" + m.MethodName
		if _, ok := c.unary[name]; !ok {
			c.unary[name] = unaryHandler{impl: impl, desc: m}
		}
	}
	for _, st := range sd.Streams {
		name := "/" + sd.ServiceName + "/" + st.StreamName
		if _, ok := c.streams[name]; !ok {
			c.streams[name] = streamHandler{impl: impl, desc: st}
		}
	}
}

func chainUnary(ints []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	switch len(ints) {
	case 0:
		return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(ctx, req)
		}
	case 1:
		return ints[0]
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		var call func(i int) grpc.UnaryHandler
		call = func(i int) grpc.UnaryHandler {
			if i == len(ints) {
				return h
			}
			return func(ctx context.Context, req any) (any, error) { return ints[i](ctx, req, info, call(i+1)) }
		}
		return call(0)(ctx, req)
	}
}

func chainStream(ints []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		var call func(i int) grpc.StreamHandler
		call = func(i int) grpc.StreamHandler {
			if i == len(ints) {
				return h
			}
			return func(srv any, ss grpc.ServerStream) error { return ints[i](srv, ss, info, call(i+1)) }
		}
		return call(0)(srv, ss)
	}
}

// incoming turns the caller's outgoing metadata into the server's incoming
// metadata, copied (FromOutgoingContext returns a copy), or gives it the
// metadata the caller handed over (WithIncoming).
func incoming(ctx context.Context) context.Context {
	md, ok := ctx.Value(handedKey{}).(metadata.MD)
	if !ok {
		md, _ = metadata.FromOutgoingContext(ctx)
	}
	return metadata.NewIncomingContext(ctx, md)
}

type handedKey struct{}

// WithIncoming hands md to the calls made with ctx as their incoming
// metadata, in place of any outgoing metadata. It is not copied: the
// caller gives md up, and changes it no more.
func WithIncoming(ctx context.Context, md metadata.MD) context.Context {
	return context.WithValue(ctx, handedKey{}, md)
}

// callHeaders fills the grpc.Header and grpc.Trailer options of a call.
func callHeaders(opts []grpc.CallOption, header, trailer metadata.MD) {
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = header.Copy()
		case grpc.TrailerCallOption:
			*o.TrailerAddr = trailer.Copy()
		}
	}
}

// transportStream records what a unary handler sets with grpc.SetHeader
// and grpc.SetTrailer.
type transportStream struct {
	method          string
	mu              sync.Mutex
	header, trailer metadata.MD
}

func (t *transportStream) Method() string { return t.method }

func (t *transportStream) SetHeader(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.header = metadata.Join(t.header, md)
	return nil
}

func (t *transportStream) SendHeader(md metadata.MD) error { return t.SetHeader(md) }

func (t *transportStream) SetTrailer(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trailer = metadata.Join(t.trailer, md)
	return nil
}

// Invoke calls the unary method through the interceptors.
func (c *Channel) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	resp, err := c.call(ctx, method, args.(proto.Message), opts)
	if err != nil {
		return err
	}
	proto.Merge(reply.(proto.Message), resp)
	return nil
}

// Call calls the unary method through the interceptors, as Invoke does,
// and returns the handler's answer as it is, rather than copied into a
// reply of the caller's: for callers that only read it, never change it.
func (c *Channel) Call(ctx context.Context, method string, args proto.Message) (proto.Message, error) {
	return c.call(ctx, method, args, nil)
}

func (c *Channel) call(ctx context.Context, method string, args proto.Message, opts []grpc.CallOption) (proto.Message, error) {
	h, ok := c.unary[method]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	ts := &transportStream{method: method}
	sctx := grpc.NewContextWithServerTransportStream(incoming(ctx), ts)
	dec := func(v any) error {
		proto.Merge(v.(proto.Message), args)
		return nil
	}
	resp, err := h.desc.Handler(h.impl, sctx, dec, c.chainU)
	callHeaders(opts, ts.header, ts.trailer)
	if err != nil {
		if _, isStatus := status.FromError(err); !isStatus && ctx.Err() != nil {
			// As over a connection: the caller's deadline or cancel.
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, err
	}
	return resp.(proto.Message), nil
}

// NewStream starts the streaming method through the interceptors, its
// handler on a goroutine of its own.
func (c *Channel) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	h, ok := c.streams[method]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &pipe{
		ctx:      ctx,
		cancel:   cancel,
		toServer: make(chan proto.Message, 1),
		toClient: make(chan proto.Message),
		headerCh: make(chan struct{}),
		pushed:   make(chan struct{}),
		done:     make(chan struct{}),
		opts:     opts,
	}
	ss := &serverSide{p: p, ctx: incoming(ctx)}
	info := &grpc.StreamServerInfo{FullMethod: method, IsClientStream: desc.ClientStreams, IsServerStream: desc.ServerStreams}
	go func() {
		err := c.chainS(h.impl, ss, info, h.desc.Handler)
		p.finish(err)
	}()
	return &clientSide{p: p}, nil
}

// pipe joins the two ends of an in-process stream.
type pipe struct {
	ctx      context.Context
	cancel   context.CancelFunc
	toServer chan proto.Message // closed by CloseSend
	toClient chan proto.Message
	opts     []grpc.CallOption

	mu         sync.Mutex
	header     metadata.MD
	trailer    metadata.MD
	headerSent bool
	headerCh   chan struct{} // closed when the header is sent
	closedSend bool
	err        error         // the handler's result
	finished   bool          // the handler has returned
	done       chan struct{} // closed when the handler has returned

	// Set by Push, before pushed is closed.
	deliver func(proto.Message) error
	end     func(error)
	pushed  chan struct{}
}

func (p *pipe) sendHeader() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.headerSent {
		p.headerSent = true
		close(p.headerCh)
	}
}

func (p *pipe) finish(err error) {
	p.sendHeader()
	p.mu.Lock()
	p.err = err
	p.finished = true
	end := p.end
	p.mu.Unlock()
	close(p.done)
	callHeaders(p.opts, p.header, p.trailer)
	if end != nil {
		p.cancel()
		end(p.result())
	}
}

// result is what the client's RecvMsg returns once the handler has
// returned and every message has been received.
func (p *pipe) result() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		return io.EOF
	}
	return p.err
}

type serverSide struct {
	p   *pipe
	ctx context.Context
}

func (s *serverSide) SetHeader(md metadata.MD) error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.p.headerSent {
		return errors.New("header already sent")
	}
	s.p.header = metadata.Join(s.p.header, md)
	return nil
}

func (s *serverSide) SendHeader(md metadata.MD) error {
	if err := s.SetHeader(md); err != nil {
		return err
	}
	s.p.sendHeader()
	return nil
}

func (s *serverSide) SetTrailer(md metadata.MD) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.trailer = metadata.Join(s.p.trailer, md)
}

func (s *serverSide) Context() context.Context { return s.ctx }

// errReceiverGone fails a send that the receiver of a pushed stream
// refused.
var errReceiverGone = status.Error(codes.Canceled, "the receiver has gone")

func (s *serverSide) SendMsg(m any) error {
	s.p.sendHeader()
	select {
	// The sender must not change a message it has sent (the contract of
	// SendMsg); the receiver copies it in.
	case s.p.toClient <- m.(proto.Message):
		return nil
	case <-s.p.pushed:
		if err := s.p.deliver(m.(proto.Message)); err != nil {
			s.p.cancel()
			return errReceiverGone
		}
		return nil
	case <-s.p.ctx.Done():
		return status.FromContextError(s.p.ctx.Err()).Err()
	}
}

func (s *serverSide) RecvMsg(m any) error {
	select {
	case msg, ok := <-s.p.toServer:
		if !ok {
			return io.EOF
		}
		proto.Merge(m.(proto.Message), msg)
		return nil
	case <-s.p.ctx.Done():
		return status.FromContextError(s.p.ctx.Err()).Err()
	}
}

type clientSide struct{ p *pipe }

func (c *clientSide) Header() (metadata.MD, error) {
	select {
	case <-c.p.headerCh:
	case <-c.p.ctx.Done():
		return nil, status.FromContextError(c.p.ctx.Err()).Err()
	}
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.p.header.Copy(), nil
}

func (c *clientSide) Trailer() metadata.MD {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.p.trailer.Copy()
}

func (c *clientSide) CloseSend() error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if !c.p.closedSend {
		c.p.closedSend = true
		close(c.p.toServer)
	}
	return nil
}

func (c *clientSide) Context() context.Context { return c.p.ctx }

func (c *clientSide) SendMsg(m any) error {
	c.p.mu.Lock()
	closed := c.p.closedSend
	c.p.mu.Unlock()
	if closed {
		return errors.New("send after CloseSend")
	}
	select {
	case c.p.toServer <- m.(proto.Message): // copied in by the receiver
		return nil
	case <-c.p.done:
		return io.EOF // the handler has returned: RecvMsg tells why
	case <-c.p.ctx.Done():
		return status.FromContextError(c.p.ctx.Err()).Err()
	}
}

func (c *clientSide) RecvMsg(m any) error {
	select {
	case msg := <-c.p.toClient:
		proto.Merge(m.(proto.Message), msg)
		return nil
	case <-c.p.done:
		// Messages sent before the handler returned come first.
		select {
		case msg := <-c.p.toClient:
			proto.Merge(m.(proto.Message), msg)
			return nil
		default:
		}
		c.p.cancel()
		return c.p.result()
	case <-c.p.ctx.Done():
		return status.FromContextError(c.p.ctx.Err()).Err()
	}
}

// Pusher is the client side of an in-process stream, which can hand its
// messages to a receiver instead of queueing them for RecvMsg.
type Pusher interface {
	// Push hands the rest of the stream to deliver and end, for a
	// receiver that would rather be called than wait (and keep a goroutine
	// waiting): each message the handler sends from now on is passed to
	// deliver, on the handler's goroutine, and once the handler has
	// returned, end is called with what RecvMsg would then return (io.EOF
	// for a normal end). deliver must not keep the message and should be
	// quick, as the handler waits for it; an error from it fails the
	// handler's send, which ends the stream. RecvMsg must not be called
	// after Push.
	Push(deliver func(proto.Message) error, end func(error))
}

func (c *clientSide) Push(deliver func(proto.Message) error, end func(error)) {
	c.p.mu.Lock()
	if c.p.finished {
		c.p.mu.Unlock()
		c.p.cancel()
		end(c.p.result())
		return
	}
	c.p.deliver, c.p.end = deliver, end
	close(c.p.pushed)
	c.p.mu.Unlock()
}
