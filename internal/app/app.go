// Package app wires the gateway together from one Config: store, job
// registry, TLS, and the gRPC server, and runs it until its context ends.
// Flags and environment are read in cmd/, never here.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	"github.com/bcpii-gateway/bcpii-gateway/gen/openapiv2"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/boltstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
)

// Store kinds.
const (
	StoreBolt   = "bbolt"
	StoreMemory = "memory"
)

// DefaultPartition is the local partition's target name when none is
// configured: the first logical partition of the simulated SE.
const DefaultPartition = "IBM390PS.CPC1.LP1"

// Config is everything the gateway is run with. The zero value of each
// field is its documented default.
type Config struct {
	// DataDir holds the job store and the generated certificate. Required.
	DataDir string
	// GRPCAddr is the gRPC listen address; empty means ":6795".
	GRPCAddr string
	// RESTAddr is the REST (HMC Web Services API) listen address; empty
	// means ":6794", the HMC's port.
	RESTAddr string
	// Store is StoreBolt (empty means this: DataDir/jobs.db) or StoreMemory
	// (nothing survives a restart).
	Store string
	// Plaintext serves gRPC and REST without TLS. For local development
	// only.
	Plaintext bool
	// TLSCert and TLSKey are PEM files of the server certificate; empty
	// means DataDir/tls/gateway.{crt,key}, created self-signed when absent.
	TLSCert, TLSKey string
	// Partition is the target name of the partition the gateway runs in:
	// the identity of its local callers. Empty means DefaultPartition.
	Partition string
	// Retention is how long ended jobs are kept; zero means 4 hours, and
	// less is refused.
	Retention time.Duration
	// SweepInterval is how often expired jobs are removed; zero means one
	// minute.
	SweepInterval time.Duration
	// ShutdownGrace is how long calls in flight may finish after shutdown
	// begins; zero means 10 seconds.
	ShutdownGrace time.Duration
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("config: a data directory is required"))
	}
	switch c.Store {
	case "", StoreBolt, StoreMemory:
	default:
		errs = append(errs, fmt.Errorf("config: store %q is not %q or %q", c.Store, StoreBolt, StoreMemory))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("config: a TLS certificate and key go together"))
	}
	if c.Plaintext && c.TLSCert != "" {
		errs = append(errs, errors.New("config: plaintext and a TLS certificate exclude each other"))
	}
	if c.Retention != 0 && c.Retention < jobs.MinRetention {
		errs = append(errs, fmt.Errorf("config: retention %v is shorter than the minimum %v", c.Retention, jobs.MinRetention))
	}
	if c.SweepInterval < 0 || c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("config: intervals must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.GRPCAddr == "" {
		c.GRPCAddr = ":6795"
	}
	if c.RESTAddr == "" {
		c.RESTAddr = ":6794"
	}
	if c.Store == "" {
		c.Store = StoreBolt
	}
	if c.Partition == "" {
		c.Partition = DefaultPartition
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Minute
	}
	return c
}

// Run runs the gateway until ctx ends, then shuts it down gracefully.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	store, closeStore, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer closeStore()

	reg, err := jobs.New(jobs.Config{Store: store, Retention: cfg.Retention, Logger: log})
	if err != nil {
		return err
	}
	defer reg.Close()

	var tlsConfig *tls.Config
	if !cfg.Plaintext {
		cert, err := loadCert(cfg, log)
		if err != nil {
			return err
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	// The external gRPC server identifies callers by their transport.
	var creds credentials.TransportCredentials
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	external, err := server.New(server.Config{
		Registry:      reg,
		Identifier:    server.LocalPartition(cfg.Partition),
		Credentials:   creds,
		Logger:        log,
		ShutdownGrace: cfg.ShutdownGrace,
	})
	if err != nil {
		return err
	}
	// The internal gRPC server, reachable only in-process, serves the REST
	// gateway and believes the principal it forwards.
	internal, err := server.New(server.Config{
		Registry:      reg,
		Identifier:    server.Forwarded{},
		Logger:        log,
		ShutdownGrace: cfg.ShutdownGrace,
	})
	if err != nil {
		return err
	}
	pipe := bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///bcpii-internal",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return pipe.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	gw, err := gateway.New(gateway.Config{
		Conn:          conn,
		Authenticator: gateway.LocalPartition(cfg.Partition),
		OpenAPI:       openapiv2.JSON,
		Logger:        log,
	})
	if err != nil {
		return err
	}

	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	restLis, err := net.Listen("tcp", cfg.RESTAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("rest listener: %w", err)
	}
	log.Info("grpc listening", "addr", grpcLis.Addr().String(), "tls", tlsConfig != nil,
		"store", cfg.Store, "data_dir", cfg.DataDir, "partition", cfg.Partition)
	log.Info("rest listening", "addr", restLis.Addr().String(), "tls", tlsConfig != nil)

	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go reg.RunSweeper(sweepCtx, cfg.SweepInterval)

	errc := make(chan error, 3)
	go func() { errc <- external.Serve(ctx, grpcLis) }()
	go func() { errc <- internal.Serve(ctx, pipe) }()
	go func() { errc <- serveREST(ctx, gw, restLis, tlsConfig, cfg.ShutdownGrace, log) }()
	var errs []error
	for range 3 {
		if err := <-errc; err != nil {
			errs = append(errs, err)
			stopSweep()
		}
	}
	log.Info("stopped")
	return errors.Join(errs...)
}

// serveREST serves the REST gateway over HTTP/1.1, as the HMC does, until
// ctx ends, then lets requests in flight finish within grace.
func serveREST(ctx context.Context, h http.Handler, lis net.Listener, tlsConfig *tls.Config, grace time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		// An empty map turns HTTP/2 off: HMC clients speak HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if tlsConfig != nil {
		lis = tls.NewListener(lis, tlsConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if grace == 0 {
		grace = 10 * time.Second
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func openStore(cfg Config) (jobs.Store, func(), error) {
	if cfg.Store == StoreMemory {
		return memstore.New(), func() {}, nil
	}
	st, err := boltstore.Open(filepath.Join(cfg.DataDir, "jobs.db"))
	if err != nil {
		return nil, nil, err
	}
	return st, func() { _ = st.Close() }, nil
}

func loadCert(cfg Config, log *slog.Logger) (tls.Certificate, error) {
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("tls: %w", err)
		}
		return cert, nil
	}
	dir := filepath.Join(cfg.DataDir, "tls")
	cert, created, err := tlsutil.LoadOrCreate(dir, clock.Real{}.Now())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %w", err)
	}
	if created {
		log.Info("created self-signed certificate", "cert", filepath.Join(dir, tlsutil.CertFile),
			"sha256_fingerprint", tlsutil.Fingerprint(cert))
	} else {
		log.Info("using certificate", "cert", filepath.Join(dir, tlsutil.CertFile),
			"sha256_fingerprint", tlsutil.Fingerprint(cert))
	}
	return cert, nil
}
