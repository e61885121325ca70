// Package server is the gateway's gRPC server: the JobService over the job
// registry, health and reflection, and the interceptors that give every
// request an id, a log line, a recovered panic and an HMC-coded status.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Who is the identity of a call, as an Identifier decides it.
type Who struct {
	// Caller is who asks, for the job rules.
	Caller jobs.Caller
	// Name is the API user or requesting partition, reported as
	// request-authenticated-as.
	Name string
	// BCPii is set for calls over the BCPii interface (a requesting
	// partition); their errors report bcpii-error.
	BCPii bool
}

// Identifier tells who is asking, from the call's transport and metadata.
// Its errors answer the call.
type Identifier interface {
	Identify(ctx context.Context) (Who, error)
}

// LocalPartition identifies every caller as the one partition the gateway
// runs in, with no X-API-Target-Name check: for tests and tools.
type LocalPartition string

// Identify returns the local partition as the caller.
func (p LocalPartition) Identify(context.Context) (Who, error) {
	return Who{Caller: jobs.Caller{Owner: jobs.Owner{Kind: jobs.PartitionOwner, Name: string(p)}}, Name: string(p), BCPii: true}, nil
}

// Config configures a Server.
type Config struct {
	// Registry holds the jobs. Required.
	Registry *jobs.Registry
	// Identifier tells who is asking. Required.
	Identifier Identifier
	// Sessions holds the API users' sessions for Logon and Logoff; nil
	// means no API users (every logon fails).
	Sessions *bcpii.Sessions
	// Backend runs operations; nil answers every Invoke with 503.1.
	Backend Backend
	// CursorKey encrypts cursors and page tokens (CursorKeySize bytes);
	// servers that share a registry share it. Nil means a random key, so
	// cursors do not outlive the process.
	CursorKey []byte
	// Credentials secure the connections; nil serves plaintext.
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
	// NoRequestIDHeader stops sending each call's x-request-id header: for
	// the internal server, whose caller, the REST gateway, does not pass it
	// on.
	NoRequestIDHeader bool
}

// Validate reports what is missing from c.
func (c Config) Validate() error {
	var errs []error
	if c.Registry == nil {
		errs = append(errs, errors.New("server: Config.Registry is required"))
	}
	if c.Identifier == nil {
		errs = append(errs, errors.New("server: Config.Identifier is required"))
	}
	if c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("server: Config.ShutdownGrace must not be negative"))
	}
	if c.MaxRecvBytes < 0 {
		errs = append(errs, errors.New("server: Config.MaxRecvBytes must not be negative"))
	}
	return errors.Join(errs...)
}

// Server is the gRPC server.
type Server struct {
	reg      *jobs.Registry
	id       Identifier
	sessions *bcpii.Sessions
	backend  Backend
	cursors  cursorCodec
	log      *slog.Logger
	grace    time.Duration
	clock    clock.Clock
	quiet    bool // no x-request-id header
	// The services' handlers by full method name, for in-process calls.
	unary   map[string]unaryHandler
	streams map[string]streamHandler
	grpc    *grpc.Server
	health  *health.Server
	linger  lingerer // ends watch streams a moment after their final status
	// lastWatch is the newest WatchJob message built.
	lastWatch atomic.Pointer[watchMsg]
}

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
	s := &Server{reg: cfg.Registry, id: cfg.Identifier, sessions: cfg.Sessions, backend: cfg.Backend, cursors: cursors, quiet: cfg.NoRequestIDHeader, log: cfg.Logger, grace: cfg.ShutdownGrace, clock: cfg.Clock, health: health.NewServer()}
	s.linger.clock = cfg.Clock
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptors()...),
		grpc.ChainStreamInterceptor(s.streamInterceptors()...),
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		grpc.MaxHeaderListSize(32 << 10),
		// Reused workers run calls on goroutines whose stacks have
		// already grown, instead of a fresh goroutine per call.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}
	if cfg.Credentials != nil {
		opts = append(opts, grpc.Creds(cfg.Credentials))
	}
	s.grpc = grpc.NewServer(opts...)
	s.register(&bcpiiv1.JobService_ServiceDesc, &jobService{srv: s})
	s.register(&bcpiiv1.SessionService_ServiceDesc, &sessionService{srv: s})
	s.register(&bcpiiv1.OperationService_ServiceDesc, &operationService{srv: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(bcpiiv1.JobService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// Serve serves on lis until ctx ends, then stops gracefully: health turns
// NOT_SERVING, new calls are refused, and calls in flight get
// Config.ShutdownGrace to finish before they are cut.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	grace := s.clock.NewTimer(s.grace)
	defer grace.Stop()
	select {
	case <-stopped:
	case <-grace.C():
		s.grpc.Stop() // cut streams that outlive the grace period
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Stop cuts every connection at once.
func (s *Server) Stop() { s.grpc.Stop() }

// identify identifies the call and remembers who asked, for error
// details.
func (s *Server) identify(ctx context.Context) (Who, error) {
	who, err := s.id.Identify(ctx)
	if err != nil {
		return Who{}, err
	}
	if info := callInfoFrom(ctx); info != nil {
		info.who = &who
	}
	return who, nil
}

func (s *Server) caller(ctx context.Context) (jobs.Caller, error) {
	who, err := s.identify(ctx)
	return who.Caller, err
}
