// Package notify serves the HMC's notification interface: JMS topics over
// STOMP 1.0, 1.1 or 1.2, as the client asks (spec section 5), so that HMC clients learn of their jobs'
// ends without polling. Frames are internal/stomp's; who connects is
// decided by bcpii.Authenticator from the facts of the connection, as for
// every other door; completions come from the job registry's completion
// feed, one registry subscription per subscribed topic however many
// connections subscribe to it.
//
// A slow subscriber never delays another: the feed hands each connection
// its messages without waiting, and each connection writes on its own.
// One that falls MaxQueue messages behind, or whose write does not finish
// within WriteTimeout, is disconnected with an ERROR frame, never silently
// skipped.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/osmsg"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
)

// Defaults of Config.
const (
	// DefaultMaxQueue is how many undelivered messages a connection may
	// hold before it is disconnected. A job-completion message is about
	// 200 bytes queued, so the bound is some 200 KB per connection, and a
	// client that keeps up at all never comes near it: a thousand of its
	// jobs would have to end while it reads none.
	DefaultMaxQueue = 1000
	// DefaultWriteTimeout bounds each write to a connection.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultConnectTimeout bounds the TLS handshake and the CONNECT frame.
	DefaultConnectTimeout = 10 * time.Second
	// MaxSubscriptions is the most subscriptions one connection may hold.
	MaxSubscriptions = 16
)

// DefaultHeartBeats bound heart-beating: the gateway sends between every
// second and every minute, as the client asks, and wants the client's no
// more often than every 5 seconds.
var DefaultHeartBeats = stomp.HeartBeats{MinSend: time.Second, MaxSend: time.Minute, MinRecv: 5 * time.Second}

// Config configures a Server.
type Config struct {
	// Registry holds the jobs whose completions are sent. Required.
	Registry *jobs.Registry
	// Authenticator decides who connects, and whose topics are whose.
	// Required.
	Authenticator *bcpii.Authenticator
	// Loopback counts connections from a loopback address as local.
	Loopback bool
	// Clock times heart-beats; nil means the system clock.
	Clock clock.Clock
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// HeartBeats bound heart-beating; zero means DefaultHeartBeats.
	HeartBeats stomp.HeartBeats
	// MaxQueue is how many undelivered messages a connection may hold;
	// zero means DefaultMaxQueue.
	MaxQueue int
	// WriteTimeout bounds each write; zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ConnectTimeout bounds the handshake and CONNECT; zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Limits bound the frames read; zero fields take stomp.DefaultLimits.
	Limits stomp.Limits
	// OSMessages, when set, are the OS message channels the server serves
	// beside the job topics: a channel's owner subscribes to its topic and
	// gets an os-message notification for each batch of the partition's
	// messages.
	OSMessages *osmsg.Hub
	// ShutdownGrace is how long the connections go on, receiving the
	// completions of the jobs that end, once Serve's context ends: then
	// each gets an ERROR frame saying the gateway stops, and closes. Zero
	// means DefaultShutdownGrace.
	ShutdownGrace time.Duration
}

// DefaultShutdownGrace is the grace of Config.ShutdownGrace.
const DefaultShutdownGrace = 10 * time.Second

// Server is the STOMP notification server.
type Server struct {
	cfg   Config
	reg   *jobs.Registry
	auth  *bcpii.Authenticator
	clock clock.Clock
	log   *slog.Logger

	ids    atomic.Int64 // connection ids
	msgIDs atomic.Int64 // message ids

	mu     sync.Mutex
	topics map[string]*topic
	conns  map[*conn]struct{}
	feeds  sync.WaitGroup
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil || cfg.Authenticator == nil {
		return nil, errors.New("notify: Config.Registry and Config.Authenticator are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HeartBeats == (stomp.HeartBeats{}) {
		cfg.HeartBeats = DefaultHeartBeats
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	return &Server{
		cfg: cfg, reg: cfg.Registry, auth: cfg.Authenticator, clock: cfg.Clock, log: cfg.Logger,
		topics: make(map[string]*topic),
		conns:  make(map[*conn]struct{}),
	}, nil
}

// Serve accepts connections on lis until ctx ends, then closes them and
// returns nil once every connection and feed has ended. lis gives TLS
// connections (tls.NewListener) unless the gateway runs in plaintext.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	// The connections run on past ctx, for the grace (stopConns).
	run, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	stop := context.AfterFunc(ctx, func() {
		_ = lis.Close()
		s.stopConns(stopRun)
	})
	defer stop()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		s.feeds.Wait()
	}()
	for {
		nc, err := lis.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		c := s.newConn(nc)
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			_ = nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.serve(run)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// stopConns lets the connections go on for the grace, delivering the
// completions of the jobs that end in it; then each gets an ERROR frame
// saying the gateway stops (its writer writes it and closes), and after
// WriteTimeout at most, whatever is still open is closed.
func (s *Server) stopConns(stopRun context.CancelFunc) {
	grace := s.cfg.ShutdownGrace
	if grace <= 0 {
		grace = DefaultShutdownGrace
	}
	s.log.Info("stomp stopping: no new connections; subscriptions go on for the grace", "grace", grace, "connections", s.Connections())
	time.AfterFunc(grace, func() { // wall-clock time, whatever clock times heart-beats
		s.mu.Lock()
		for c := range s.conns {
			c.fail(errorFrame(errStopping, nil))
		}
		s.mu.Unlock()
		time.AfterFunc(s.cfg.WriteTimeout, func() {
			s.mu.Lock()
			for c := range s.conns {
				_ = c.nc.Close()
			}
			s.mu.Unlock()
			stopRun()
		})
	})
}

func (s *Server) newConn(nc net.Conn) *conn {
	return &conn{
		srv:  s,
		nc:   nc,
		id:   "bcpii-gateway-" + strconv.FormatInt(s.ids.Add(1), 10),
		wake: make(chan struct{}, 1),
		subs: make(map[string]*subscription),
		// Until CONNECT settles the version, ERROR frames are 1.2's.
		version: stomp.V12,
		done:    make(chan struct{}),
	}
}

// credentialsOf collects the facts of a connection for the authenticator,
// as every door does (bcpii.CredentialsOf): the client certificate its TLS
// handshake verified, and whether it is local (a Unix socket, or loopback
// where that counts as local).
func (s *Server) credentialsOf(nc net.Conn) bcpii.Credentials {
	var state *tls.ConnectionState
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		state = &st
	}
	return bcpii.CredentialsOf(nil, state, nc.RemoteAddr(), s.cfg.Loopback)
}

// Connections returns how many connections are open.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
