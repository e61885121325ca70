// Package app wires the gateway together from one Config: store, job
// registry, TLS, and the gRPC server, and runs it until its context ends.
// Flags and environment are read in cmd/, never here.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	"github.com/bcpii-gateway/bcpii-gateway/gen/openapiv2"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/simse"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/boltstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
	"github.com/bcpii-gateway/bcpii-gateway/internal/upstream"
)

// Store kinds.
const (
	StoreBolt   = "bbolt"
	StoreMemory = "memory"
)

// Backends.
const (
	BackendSim = "sim"
	BackendHMC = "hmc"
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
	// UsersFile lists the API users and their bcrypt password hashes
	// (YAML); empty means there are no API users and every logon fails.
	UsersFile string
	// SessionLifetime is how long a web-services session lasts; zero means
	// 10 hours.
	SessionLifetime time.Duration
	// ClientCAFile is a PEM bundle of the CAs whose client certificates name
	// requesting partitions (URI SAN urn:bcpii:partition:NETID.NAU.LPAR);
	// empty means no client certificates are asked for.
	ClientCAFile string
	// NoLoopbackIdentity stops treating loopback TCP connections as the
	// local partition; the Unix socket still is. By default (false) a
	// program on the gateway's own host is the local partition.
	NoLoopbackIdentity bool
	// Socket is the path of the gRPC Unix domain socket, whose callers are
	// the local partition; empty means DataDir/grpc.sock, "-" none.
	Socket string
	// Inventory is the simulated SE's inventory file (YAML or JSON); empty
	// means the built-in one.
	Inventory string
	// Backend runs the operations: BackendSim (empty means this), the
	// simulated SE, or BackendHMC, an upstream HMC Web Services API.
	Backend string
	// HMCURL is the upstream, https://host[:port] (port 6794 if absent).
	// Required with BackendHMC.
	HMCURL string
	// HMCCAFile is a PEM bundle to verify the upstream's certificate with;
	// empty means the system roots, unless HMCFingerprint is set.
	HMCCAFile string
	// HMCFingerprint pins the upstream's certificate by its SHA-256
	// fingerprint (hex, colons optional).
	HMCFingerprint string
	// HMCCredentialsFile holds the upstream API user ("userid: ..." and
	// "password: ..." lines); with BackendHMC it or HMCCredentials is
	// required, not both.
	HMCCredentialsFile string
	// HMCCredentials are the upstream API user when given directly (cmd
	// takes them from the environment).
	HMCCredentials upstream.Credentials
	// HMCPollInterval is how often a running upstream job is queried; zero
	// means 5 seconds.
	HMCPollInterval time.Duration
	// Clock tells the time; nil means the system clock. Tests inject one.
	Clock clock.Clock
	// OnListening, when set, is told the addresses once every listener is
	// open. Tests use it to find ports chosen by the system.
	OnListening func(Addresses)
}

// Addresses are where a running gateway listens.
type Addresses struct {
	GRPC, REST, Socket string
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
	if c.Partition != "" {
		if t, err := bcpii.ParseTargetName(c.Partition); err != nil {
			errs = append(errs, fmt.Errorf("config: partition: %w", err))
		} else if t.IsCPC() {
			errs = append(errs, fmt.Errorf("config: partition %s names a CPC, not a logical partition", t))
		}
	}
	if c.ClientCAFile != "" && c.Plaintext {
		errs = append(errs, errors.New("config: client certificates need TLS"))
	}
	errs = append(errs, c.validateBackend()...)
	if c.SweepInterval < 0 || c.ShutdownGrace < 0 || c.SessionLifetime < 0 {
		errs = append(errs, errors.New("config: intervals must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) validateBackend() []error {
	var errs []error
	hmcSet := c.HMCURL != "" || c.HMCCAFile != "" || c.HMCFingerprint != "" || c.HMCCredentialsFile != "" ||
		c.HMCCredentials != (upstream.Credentials{}) || c.HMCPollInterval != 0
	switch c.Backend {
	case "", BackendSim:
		if hmcSet {
			errs = append(errs, errors.New("config: the HMC settings need the hmc backend"))
		}
	case BackendHMC:
		if _, err := upstream.ParseURL(c.HMCURL); err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
		}
		if c.HMCFingerprint != "" {
			if _, err := upstream.ParseFingerprint(c.HMCFingerprint); err != nil {
				errs = append(errs, fmt.Errorf("config: %w", err))
			}
		}
		hasCreds := c.HMCCredentials != (upstream.Credentials{})
		switch {
		case c.HMCCredentialsFile != "" && hasCreds:
			errs = append(errs, errors.New("config: HMC credentials come from a file or the environment, not both"))
		case c.HMCCredentialsFile == "" && (c.HMCCredentials.UserID == "" || c.HMCCredentials.Password == ""):
			errs = append(errs, errors.New("config: the hmc backend needs a credentials file, or a userid and password"))
		}
		if c.HMCPollInterval < 0 {
			errs = append(errs, errors.New("config: the HMC poll interval must not be negative"))
		}
		if c.Inventory != "" {
			errs = append(errs, errors.New("config: an inventory is for the simulated SE, not the hmc backend"))
		}
	default:
		errs = append(errs, fmt.Errorf("config: backend %q is not %q or %q", c.Backend, BackendSim, BackendHMC))
	}
	return errs
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
	if c.Socket == "" {
		c.Socket = filepath.Join(c.DataDir, "grpc.sock")
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
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

	reg, err := jobs.New(jobs.Config{Store: store, Clock: cfg.Clock, Retention: cfg.Retention, Logger: log})
	if err != nil {
		return err
	}
	defer reg.Close()

	auth, err := authenticator(cfg)
	if err != nil {
		return err
	}
	cursorKey, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "cursor.key"))
	if err != nil {
		return fmt.Errorf("cursor key: %w", err)
	}
	backend, runBackend, err := newBackend(cfg, reg, log)
	if err != nil {
		return err
	}
	backendCtx, stopBackend := context.WithCancel(context.WithoutCancel(ctx))
	backendDone := make(chan error, 1)
	go func() { backendDone <- runBackend(backendCtx) }()
	// The SE ends the jobs it still runs when it stops, and the HMC client
	// stores the ends it learns, so the backend stops after the servers and
	// before the store closes.
	defer func() { stopBackend(); <-backendDone }()
	var tlsConfig *tls.Config
	if !cfg.Plaintext {
		if tlsConfig, err = serverTLS(cfg, log); err != nil {
			return err
		}
	}

	// The external gRPC server identifies callers by their transport.
	var creds credentials.TransportCredentials
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	// Three servers share the registry, the backend and the sessions; they
	// differ in how they tell who is asking.
	newServer := func(id server.Identifier, creds credentials.TransportCredentials) (*server.Server, error) {
		_, internal := id.(server.Forwarded)
		return server.New(server.Config{
			Registry:          reg,
			Identifier:        id,
			Sessions:          auth.Sessions,
			Backend:           backend,
			CursorKey:         cursorKey,
			Credentials:       creds,
			Logger:            log,
			ShutdownGrace:     cfg.ShutdownGrace,
			NoRequestIDHeader: internal,
		})
	}
	external, err := newServer(server.Transport{Auth: auth, Loopback: !cfg.NoLoopbackIdentity}, creds)
	if err != nil {
		return err
	}
	// The Unix socket serves local programs without TLS; the file mode
	// keeps other users out.
	local, err := newServer(server.Transport{Auth: auth}, nil)
	if err != nil {
		return err
	}
	// The internal gRPC server, reachable only in-process, serves the REST
	// gateway and believes the principal it forwards. The gateway calls it
	// in-process: same interceptors and handlers, no transport.
	internal, err := newServer(server.Forwarded{}, nil)
	if err != nil {
		return err
	}
	defer internal.Stop() // never served: release its stream workers
	gw, err := gateway.New(gateway.Config{
		Conn:          internal.InProcess(),
		Authenticator: gateway.Transport{Auth: auth, Loopback: !cfg.NoLoopbackIdentity},
		OpenAPI:       openapiv2.JSON,
		Logger:        log,
	})
	if err != nil {
		return err
	}

	var lis listeners
	defer lis.close()
	grpcLis, err := lis.listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	restLis, err := lis.listen("tcp", cfg.RESTAddr)
	if err != nil {
		return fmt.Errorf("rest listener: %w", err)
	}
	var sockLis net.Listener
	if cfg.Socket == "-" {
		local.Stop() // never served: release its stream workers
	} else {
		_ = os.Remove(cfg.Socket) // a socket left by an earlier run
		if sockLis, err = lis.listen("unix", cfg.Socket); err != nil {
			return fmt.Errorf("unix socket: %w", err)
		}
		if err := os.Chmod(cfg.Socket, 0o600); err != nil {
			return fmt.Errorf("unix socket: %w", err)
		}
	}
	log.Info("grpc listening", "addr", grpcLis.Addr().String(), "tls", tlsConfig != nil,
		"store", cfg.Store, "data_dir", cfg.DataDir, "partition", cfg.Partition)
	log.Info("rest listening", "addr", restLis.Addr().String(), "tls", tlsConfig != nil)
	addrs := Addresses{GRPC: grpcLis.Addr().String(), REST: restLis.Addr().String()}
	if sockLis != nil {
		log.Info("grpc socket listening", "path", cfg.Socket)
		addrs.Socket = cfg.Socket
	}
	if cfg.OnListening != nil {
		cfg.OnListening(addrs)
	}

	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go reg.RunSweeper(sweepCtx, cfg.SweepInterval)
	go sweepSessions(sweepCtx, cfg.Clock, auth.Sessions, cfg.SweepInterval)

	errc := make(chan error, 3)
	n := 2
	go func() { errc <- external.Serve(ctx, grpcLis) }()
	go func() { errc <- serveREST(ctx, gw, restLis, tlsConfig, cfg.ShutdownGrace, log) }()
	go func() {
		<-ctx.Done()
		gw.Close() // event streams took their connections from net/http
	}()
	if sockLis != nil {
		n++
		go func() { errc <- local.Serve(ctx, sockLis) }()
	}
	var errs []error
	for range n {
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

func simulatedSE(cfg Config, reg *jobs.Registry, log *slog.Logger) (*simse.SE, error) {
	var inv *simse.Inventory
	if cfg.Inventory != "" {
		var err error
		if inv, err = simse.LoadInventory(cfg.Inventory); err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
	}
	return simse.New(simse.Config{Inventory: inv, Registry: reg, Clock: cfg.Clock, Logger: log,
		StateFile: filepath.Join(cfg.DataDir, "sim-jobs")})
}

// newBackend returns the configured backend and its Run.
func newBackend(cfg Config, reg *jobs.Registry, log *slog.Logger) (server.Backend, func(context.Context) error, error) {
	if cfg.Backend != BackendHMC {
		se, err := simulatedSE(cfg, reg, log)
		if err != nil {
			return nil, nil, err
		}
		return se, se.Run, nil
	}
	creds := cfg.HMCCredentials
	if cfg.HMCCredentialsFile != "" {
		var err error
		if creds, err = upstream.LoadCredentials(cfg.HMCCredentialsFile); err != nil {
			return nil, nil, err
		}
	}
	c, err := upstream.New(upstream.Config{
		URL:          cfg.HMCURL,
		CAFile:       cfg.HMCCAFile,
		Fingerprint:  cfg.HMCFingerprint,
		Credentials:  creds,
		Registry:     reg,
		Clock:        cfg.Clock,
		PollInterval: cfg.HMCPollInterval,
		StateFile:    filepath.Join(cfg.DataDir, "upstream-jobs.json"),
		Logger:       log.With("backend", BackendHMC),
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("hmc backend", "url", cfg.HMCURL, "userid", creds.UserID)
	return c, c.Run, nil
}

// sweepSessions removes expired sessions every interval, so that sessions
// never used again do not stay in memory.
func sweepSessions(ctx context.Context, clk clock.Clock, s *bcpii.Sessions, interval time.Duration) {
	for {
		t := clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
			s.Sweep()
		}
	}
}

// loadOrCreateKey reads the key that encrypts cursors, or makes one; it
// lives with the data so that cursors stay valid across restarts.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != server.CursorKeySize {
			return nil, fmt.Errorf("%s holds %d bytes, not %d", path, len(key), server.CursorKeySize)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key = server.NewCursorKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// listeners closes what it opened if Run fails before serving.
type listeners []net.Listener

func (l *listeners) listen(network, addr string) (net.Listener, error) {
	lis, err := net.Listen(network, addr)
	if err == nil {
		*l = append(*l, lis)
	}
	return lis, err
}

func (l *listeners) close() {
	for _, lis := range *l {
		_ = lis.Close()
	}
}

func authenticator(cfg Config) (*bcpii.Authenticator, error) {
	t, err := bcpii.ParseTargetName(cfg.Partition)
	if err != nil {
		return nil, err
	}
	local, err := bcpii.PartitionPrincipal(t)
	if err != nil {
		return nil, err
	}
	users, err := bcpii.ParseUsers([]byte("users: []\n"))
	if cfg.UsersFile != "" {
		users, err = bcpii.LoadUsers(cfg.UsersFile)
	}
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return &bcpii.Authenticator{Local: local, Sessions: bcpii.NewSessions(users, cfg.Clock, cfg.SessionLifetime)}, nil
}

// serverTLS is the TLS configuration of both listeners. With a client CA,
// a client certificate is optional, but one that is presented must chain
// to the CA and name a requesting partition, or the handshake fails.
func serverTLS(cfg Config, log *slog.Logger) (*tls.Config, error) {
	cert, err := loadCert(cfg, log)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.ClientCAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA: no certificate in %s", cfg.ClientCAFile)
	}
	tc.ClientCAs = pool
	tc.ClientAuth = tls.VerifyClientCertIfGiven
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		_, err := bcpii.PartitionFromCertificate(cs.PeerCertificates[0])
		return err
	}
	return tc, nil
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
	cert, created, err := tlsutil.LoadOrCreate(dir, cfg.Clock.Now())
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
