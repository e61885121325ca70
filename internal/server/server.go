// Package server is the gateway's gRPC server: the JobService,
// OperationService and SessionService over the job registry and the
// backend, health and reflection, and the interceptors that give every
// request an id, a log line, a recovered panic, an HMC-coded status and,
// in one place, the principal who asks (identity.go). One Server serves TLS
// connections, the local Unix socket and, in-process, the REST gateway
// (inprocess.go).
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/inproc"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Config configures a Server.
type Config struct {
	// Registry holds the jobs. Required.
	Registry *jobs.Registry
	// Authenticator turns the facts of a call into who asks. Required. Its
	// Sessions serve Logon and Logoff; nil Sessions means no API users
	// (every logon fails).
	Authenticator *bcpii.Authenticator
	// Loopback counts TCP connections from a loopback address as local
	// (the Unix socket always is).
	Loopback bool
	// Backend runs operations; nil answers every Invoke with 503.1.
	Backend Backend
	// CursorKey encrypts cursors and page tokens (CursorKeySize bytes);
	// servers that share a registry share it. Nil means a random key, so
	// cursors do not outlive the process.
	CursorKey []byte
	// Credentials secure the connections served by Serve; nil serves
	// plaintext. ServeLocal serves the Unix socket without them.
	Credentials credentials.TransportCredentials
	// Logger receives request logs; nil discards them.
	Logger *slog.Logger
	// MaxRecvBytes caps a request message; zero means 64 KiB, the BCPii
	// request limit.
	MaxRecvBytes int
	// ShutdownGrace is how long calls in flight may run on after shutdown
	// begins; zero means 10 seconds.
	ShutdownGrace time.Duration
	// Clock times stream linger and the shutdown grace; nil means the
	// system clock.
	Clock clock.Clock
	// Unary and Stream are interceptors that run outermost, before the
	// server's own (metrics, say), on every door, in-process included.
	Unary  []grpc.UnaryServerInterceptor
	Stream []grpc.StreamServerInterceptor
	// Options are further options of the gRPC servers (a stats handler for
	// tracing, say).
	Options []grpc.ServerOption
}

// Validate reports what is missing from c.
func (c Config) Validate() error {
	var errs []error
	if c.Registry == nil {
		errs = append(errs, errors.New("server: Config.Registry is required"))
	}
	if c.Authenticator == nil {
		errs = append(errs, errors.New("server: Config.Authenticator is required"))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("server: Config.ShutdownGrace must not be negative"))
	}
	if c.MaxRecvBytes < 0 {
		errs = append(errs, errors.New("server: Config.MaxRecvBytes must not be negative"))
	}
	return errors.Join(errs...)
}

// Server is the gateway's gRPC service: one set of handlers and
// interceptors, served over TLS connections (Serve), the local Unix socket
// (ServeLocal) and in-process to the REST gateway (InProcess).
type Server struct {
	reg      *jobs.Registry
	auth     *bcpii.Authenticator
	loopback bool
	backend  Backend
	cursors  cursorCodec
	log      *slog.Logger
	grace    time.Duration
	opts     []grpc.ServerOption // of both gRPC servers, but credentials
	clock    clock.Clock
	outerU   []grpc.UnaryServerInterceptor
	outerS   []grpc.StreamServerInterceptor
	// inproc serves in-process calls, through the same interceptors.
	inproc   *inproc.Channel
	grpc     *grpc.Server // Serve's, with Config.Credentials
	localMu  sync.Mutex
	local    *grpc.Server // ServeLocal's, without; nil until it serves
	health   *health.Server
	linger   lingerer        // ends watch streams a moment after their final status
	refused  refusedMessages // noted by the codec, answered by handlers
	refusals *rateLog        // logs refused messages, at a bounded rate
	// rpcRefusals logs refused calls, at a bounded rate.
	rpcRefusals *rateLog
	// unavailable logs the causes of Unavailable answers, at a bounded
	// rate.
	unavailable *rateLog
	// lastWatch is the newest WatchJob message built.
	lastWatch atomic.Pointer[watchMsg]
}

// streamWorkers is the fewest goroutines kept to run calls.
const streamWorkers = 64

// New builds a Server from cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRecvBytes == 0 {
		cfg.MaxRecvBytes = 64 << 10
	}
	if cfg.CursorKey == nil {
		cfg.CursorKey = NewCursorKey()
	}
	cursors, err := newCursorCodec(cfg.CursorKey)
	if err != nil {
		return nil, err
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	s := &Server{reg: cfg.Registry, auth: cfg.Authenticator, loopback: cfg.Loopback, backend: cfg.Backend,
		cursors: cursors, log: cfg.Logger, grace: cfg.ShutdownGrace, clock: cfg.Clock, health: health.NewServer(), refusals: newRateLog(),
		outerU: cfg.Unary, outerS: cfg.Stream, rpcRefusals: newRateLogOf(20, 200), unavailable: newRateLog()}
	s.linger.clock = cfg.Clock
	s.inproc = inproc.New(s.unaryInterceptors(), s.streamInterceptors())
	s.opts = []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptors()...),
		grpc.ChainStreamInterceptor(s.streamInterceptors()...),
		// The codec refuses messages over the limit, in HMC terms.
		grpc.ForceServerCodecV2(codec{proto: encoding.GetCodecV2("proto"), max: cfg.MaxRecvBytes, refusals: &s.refused}),
		grpc.MaxRecvMsgSize(max(cfg.MaxRecvBytes, transportMaxRecv)),
		grpc.MaxHeaderListSize(32 << 10),
		grpc.UnknownServiceHandler(unknownMethod),
		// Slow and idle clients: a connection must finish its handshake in
		// 10 seconds, may ping no more often than every 10 seconds, closes
		// after 5 idle minutes, and carries at most 2,048 streams at once.
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.MaxConcurrentStreams(2048),
		// Reused workers run calls on goroutines whose stacks have
		// already grown, instead of a fresh goroutine per call whose
		// stack grows anew. A call finding every worker busy gets a
		// fresh goroutine, so there are enough for the calls a busy
		// connection has in flight at once, not one per core.
		grpc.NumStreamWorkers(uint32(max(streamWorkers, 4*runtime.GOMAXPROCS(0)))),
	}
	s.opts = append(s.opts, cfg.Options...)
	opts := s.opts
	if cfg.Credentials != nil {
		opts = append(opts[:len(opts):len(opts)], grpc.Creds(cfg.Credentials))
	}
	s.grpc = s.newGRPC(opts)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(bcpiiv1.JobService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// newGRPC returns a gRPC server with every service registered.
func (s *Server) newGRPC(opts []grpc.ServerOption) *grpc.Server {
	g := grpc.NewServer(opts...)
	s.register(g, &bcpiiv1.JobService_ServiceDesc, &jobService{srv: s})
	s.register(g, &bcpiiv1.SessionService_ServiceDesc, &sessionService{srv: s})
	s.register(g, &bcpiiv1.OperationService_ServiceDesc, &operationService{srv: s})
	s.register(g, &healthpb.Health_ServiceDesc, s.health)
	reflection.Register(g)
	return g
}

// Serve serves on lis, with Config.Credentials, until ctx ends, then stops
// gracefully: health turns NOT_SERVING, new calls are refused, and calls
// in flight get Config.ShutdownGrace to finish before they are cut.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error { return s.serve(ctx, s.grpc, lis) }

// ServeLocal serves the gateway's Unix socket as Serve does, but without
// TLS: its callers are the local partition, and the socket's file mode
// keeps other users out. Call it once, before Stop.
func (s *Server) ServeLocal(ctx context.Context, lis net.Listener) error {
	s.localMu.Lock()
	if s.local == nil {
		s.local = s.newGRPC(s.opts)
	}
	g := s.local
	s.localMu.Unlock()
	return s.serve(ctx, g, lis)
}

func (s *Server) serve(ctx context.Context, g *grpc.Server, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	grace := s.clock.NewTimer(s.grace)
	defer grace.Stop()
	select {
	case <-stopped:
	case <-grace.C():
		g.Stop() // cut streams that outlive the grace period
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Stop cuts every connection at once.
func (s *Server) Stop() {
	s.grpc.Stop()
	s.localMu.Lock()
	defer s.localMu.Unlock()
	if s.local != nil {
		s.local.Stop()
	}
}

// Services lists the services served and their methods.
func (s *Server) Services() map[string]grpc.ServiceInfo { return s.grpc.GetServiceInfo() }

// GRPCServer is the gRPC server Serve serves, for what registers per
// service (metrics, say).
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }
