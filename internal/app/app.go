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
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/credentials"

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
	// Store is StoreBolt (empty means this: DataDir/jobs.db) or StoreMemory
	// (nothing survives a restart).
	Store string
	// Plaintext serves gRPC without TLS. For local development only.
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

	var creds credentials.TransportCredentials
	if !cfg.Plaintext {
		cert, err := loadCert(cfg, log)
		if err != nil {
			return err
		}
		creds = credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		})
	}

	srv, err := server.New(server.Config{
		Registry:      reg,
		Identifier:    server.LocalPartition(cfg.Partition),
		Credentials:   creds,
		Logger:        log,
		ShutdownGrace: cfg.ShutdownGrace,
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	log.Info("grpc listening", "addr", lis.Addr().String(), "tls", !cfg.Plaintext,
		"store", cfg.Store, "data_dir", cfg.DataDir, "partition", cfg.Partition)

	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go reg.RunSweeper(sweepCtx, cfg.SweepInterval)

	err = srv.Serve(ctx, lis)
	log.Info("stopped")
	return err
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
