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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"google.golang.org/grpc/credentials"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	"github.com/bcpii-gateway/bcpii-gateway/gen/openapiv2"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/notify"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/simse"
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
	// StompAddr is the STOMP (HMC notification) listen address; empty
	// means ":61612", the HMC's port, and "-" none.
	StompAddr string
	// Store is StoreBolt (empty means this: DataDir/jobs.db), StoreMemory
	// (nothing survives a restart) or StoreEtcd (an etcd cluster, see Etcd).
	Store string
	// Etcd configures the etcd store.
	Etcd EtcdConfig
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
	// ShutdownGrace is how long calls in flight, gRPC watch streams,
	// Server-Sent Events streams and STOMP subscriptions may go on after
	// shutdown begins; zero means 10 seconds.
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
	// SocketGroup, when set, opens the Unix socket to the members of this
	// group (mode 0660) as well as to the gateway's user: each is the
	// local partition. Empty: the gateway's user alone (0600).
	SocketGroup string
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
	// HMCStompAddr is the upstream's STOMP notification interface,
	// host:port, whose job completions the backend follows, polling only as
	// a safety net; empty means the HMC URL's host on port 61612, and "-"
	// none (polling only).
	HMCStompAddr string
	// RESTReadTimeout bounds reading a whole REST request, body included;
	// zero means 30 seconds.
	RESTReadTimeout time.Duration
	// MaxConnsPerSource caps the REST connections one source address may
	// hold open at once; zero means 128. Connections over it are answered
	// 503 and closed.
	MaxConnsPerSource int
	// AdminAddr is the admin listener's address (/metrics, /healthz,
	// /readyz, and /debug/pprof/ with Pprof); empty or "-" means none.
	// The command's default is DefaultAdminAddr. It is never the REST or
	// gRPC address.
	AdminAddr string
	// Pprof serves the runtime profiles under /debug/pprof/ on the admin
	// listener.
	Pprof bool
	// Tracing exports OpenTelemetry traces of gRPC and REST requests over
	// OTLP, configured by the OTEL_EXPORTER_OTLP_* environment variables;
	// TracingProtocol is "grpc" or "http/protobuf" (empty means this).
	Tracing         bool
	TracingProtocol string
	// WrapStore, when set, wraps the job store the gateway opens (tests
	// use it to take the store down and up again).
	WrapStore func(jobs.Store) jobs.Store
	// Clock tells the time; nil means the system clock. Tests inject one.
	Clock clock.Clock
	// OnListening, when set, is told the addresses once every listener is
	// open. Tests use it to find ports chosen by the system.
	OnListening func(Addresses)
}

// Addresses are where a running gateway listens.
type Addresses struct {
	GRPC, REST, Socket string
	Admin              string // empty with none
	// STOMP is empty when the gateway serves no STOMP.
	STOMP string
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("config: a data directory is required"))
	}
	switch c.Store {
	case "", StoreBolt, StoreMemory, StoreEtcd:
	default:
		errs = append(errs, fmt.Errorf("config: store %q is not %q, %q or %q", c.Store, StoreBolt, StoreMemory, StoreEtcd))
	}
	errs = append(errs, c.Etcd.validate(c.Store)...)
	if c.Store == StoreEtcd && (c.Backend == "" || c.Backend == BackendSim) {
		errs = append(errs, errors.New("config: the etcd store is for replicas, and the simulated SE keeps its objects' state in its own process, "+
			"which replicas cannot share: run one gateway with the sim backend as the upstream HMC of the replicas (--backend hmc --store etcd)"))
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
	if sameFixedAddr(c.AdminAddr, c.RESTAddr, ":6794") || sameFixedAddr(c.AdminAddr, c.GRPCAddr, ":6795") {
		errs = append(errs, errors.New("config: the admin listener needs an address of its own, not the REST or gRPC one"))
	}
	errs = append(errs, c.validateBackend()...)
	if c.SweepInterval < 0 || c.ShutdownGrace < 0 || c.SessionLifetime < 0 || c.RESTReadTimeout < 0 || c.MaxConnsPerSource < 0 {
		errs = append(errs, errors.New("config: intervals must not be negative"))
	}
	return errors.Join(errs...)
}

// sameFixedAddr reports whether admin is the address a (def when empty).
// A port of the system's choosing ("…:0") never clashes.
func sameFixedAddr(admin, a, def string) bool {
	if admin == "" || admin == "-" || strings.HasSuffix(admin, ":0") {
		return false
	}
	if a == "" {
		return strings.HasSuffix(admin, def)
	}
	return admin == a
}

func (c Config) validateBackend() []error {
	var errs []error
	hmcSet := c.HMCURL != "" || c.HMCCAFile != "" || c.HMCFingerprint != "" || c.HMCCredentialsFile != "" ||
		c.HMCCredentials != (upstream.Credentials{}) || c.HMCPollInterval != 0 || c.HMCStompAddr != ""
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
	if c.StompAddr == "" {
		c.StompAddr = ":61612"
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
	if c.RESTReadTimeout == 0 {
		c.RESTReadTimeout = 30 * time.Second
	}
	if c.MaxConnsPerSource == 0 {
		c.MaxConnsPerSource = 128
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
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	o, err := newOps(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer o.close()
	set, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer set.close()
	if cfg.Store == StoreBolt {
		dropSideFiles(cfg.DataDir, log)
	}
	sh, err := sharedState(ctx, set)
	if err != nil {
		return err
	}
	store := o.store(cfg, set.jobs)
	observeCtx, stopObserve := context.WithCancel(context.WithoutCancel(ctx))
	defer stopObserve()
	o.metrics.ObserveJobs(observeCtx, store, cfg.Clock.Now)
	reg, err := jobs.New(jobs.Config{Store: store, Clock: cfg.Clock, Retention: cfg.Retention, Logger: log})
	if err != nil {
		return err
	}
	defer reg.Close()
	backend, runBackend, err := newBackend(cfg, set, reg, log)
	if err != nil {
		return err
	}
	o.backend(backend)
	// The SE ends the jobs it still runs when it stops, and the HMC client
	// stores the ends it learns, so the backend stops after the servers and
	// before the store closes.
	backendCtx, stopBackend := context.WithCancel(context.WithoutCancel(ctx))
	backendDone := make(chan error, 1)
	go func() { backendDone <- runBackend(backendCtx) }()
	defer func() { stopBackend(); <-backendDone }()

	g, err := build(cfg, reg, backend, o, sh, log)
	if err != nil {
		return err
	}
	defer g.srv.Stop() // releases what a failed start leaves
	var lis listeners
	defer lis.close()
	if err := lis.open(cfg); err != nil {
		return err
	}
	lis.announce(cfg, g.tls != nil, log)
	o.metrics.InitializeGRPC(g.srv.GRPCServer())
	return g.serve(ctx, cfg, reg, &lis, log)
}

// servers are what serve: the gRPC server, the REST handler over it, and
// the STOMP notification server beside.
type servers struct {
	srv    *server.Server
	rest   *gateway.Gateway
	stomp  *notify.Server
	tls    *tls.Config // nil for plaintext
	auth   *bcpii.Authenticator
	ops    *ops
	leader leader // of the retention sweep
}

// build makes the servers. One gRPC server serves every door: TLS
// connections, the Unix socket, and the REST gateway in-process, whose
// requests its authentication interceptor judges by the credentials the
// gateway collected.
func build(cfg Config, reg *jobs.Registry, backend server.Backend, o *ops, sh shared, log *slog.Logger) (*servers, error) {
	auth, err := authenticator(cfg, sh.sessions)
	if err != nil {
		return nil, err
	}
	g := &servers{auth: auth, ops: o, leader: sh.leader}
	var creds credentials.TransportCredentials
	if !cfg.Plaintext {
		if g.tls, err = serverTLS(cfg, log); err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(g.tls)
	}
	sc := server.Config{
		Registry:      reg,
		Authenticator: auth,
		Loopback:      !cfg.NoLoopbackIdentity,
		Backend:       backend,
		CursorKey:     sh.cursorKey,
		Credentials:   creds,
		Logger:        log,
		ShutdownGrace: cfg.ShutdownGrace,
	}
	o.serverConfig(&sc)
	g.srv, err = server.New(sc)
	if err != nil {
		return nil, err
	}
	g.rest, err = gateway.New(gateway.Config{
		Conn:          g.srv.InProcess(),
		Authenticator: auth,
		Loopback:      !cfg.NoLoopbackIdentity,
		OpenAPI:       openapiv2.JSON,
		Logger:        log,
		OnAccess:      newAccessLog(log, o.metrics).observe,
	})
	if err != nil {
		g.srv.Stop()
		return nil, err
	}
	if g.stomp, err = newNotify(cfg, reg, auth, backend, log); err != nil {
		g.srv.Stop()
		return nil, err
	}
	return g, nil
}

// serve serves every listener until ctx ends, with the registry's and the
// sessions' sweepers beside.
func (g *servers) serve(ctx context.Context, cfg Config, reg *jobs.Registry, lis *listeners, log *slog.Logger) error {
	if cfg.OnListening != nil {
		cfg.OnListening(lis.addresses())
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	sweeperDone := make(chan struct{})
	go func() { defer close(sweeperDone); runSweeper(sweepCtx, cfg, g.leader, reg) }()
	defer func() { stopSweep(); <-sweeperDone }() // the leader resigns before the store closes
	go sweepSessions(sweepCtx, cfg.Clock, g.auth.Sessions, cfg.SweepInterval)
	go g.ops.watchReadiness(sweepCtx, cfg.Clock, readinessInterval)

	errc := make(chan error, 4)
	n := 2
	go func() { errc <- g.srv.Serve(ctx, lis.grpc) }()
	go func() { errc <- serveREST(ctx, cfg, g.ops.restHandler(g.rest), lis.rest, g.tls, log) }()
	if lis.admin != nil {
		n++
		go func() { errc <- serveAdmin(ctx, lis.admin, g.ops.handler(cfg.Pprof), log) }()
	}
	// Event streams took their connections from net/http: they are
	// drained here, with the same grace as gRPC's streams and STOMP's.
	n++
	go func() {
		<-ctx.Done()
		log.Info("stopping: no new connections; streams and calls in flight get their grace", "grace", cfg.grace())
		drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.grace())
		defer cancel()
		g.rest.Shutdown(drain)
		errc <- nil
	}()
	if lis.socket != nil {
		n++
		go func() { errc <- g.srv.ServeLocal(ctx, lis.socket) }()
	}
	if lis.stomp != nil {
		n++
		go func() { errc <- g.stomp.Serve(ctx, stompListener(lis.stomp, g.tls)) }()
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

// LockFile is the file in the data directory that a running gateway holds
// locked, whatever its store, so that a second gateway on the same
// directory stops before it touches anything there.
const LockFile = "gateway.lock"

func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, LockFile)
	lock := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("data directory %s: locking %s: %w", dir, path, err)
	}
	if !ok {
		return nil, fmt.Errorf("data directory %s is in use by another gateway (it holds %s); give this one its own --data-dir", dir, path)
	}
	return func() { _ = lock.Unlock() }, nil
}

// dropSideFiles removes the files in which earlier versions kept the jobs
// the backends followed (DATA/sim-jobs, DATA/upstream-jobs.json). What they
// said the job store now holds itself, in each job's own write, and its
// index of jobs not ended (built when the store was opened) finds them
// again; the backends settle those jobs as they start.
func dropSideFiles(dir string, log *slog.Logger) {
	for _, name := range []string{"sim-jobs", "upstream-jobs.json"} {
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err == nil {
			log.Info("removed a state file of an earlier version; the job store holds what it held", "path", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			log.Warn("state file of an earlier version not removed", "path", path, "err", err)
		}
	}
}

func simulatedSE(cfg Config, reg *jobs.Registry, log *slog.Logger) (*simse.SE, error) {
	var inv *simse.Inventory
	if cfg.Inventory != "" {
		var err error
		if inv, err = simse.LoadInventory(cfg.Inventory); err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
	}
	return simse.New(simse.Config{Inventory: inv, Registry: reg, Clock: cfg.Clock, Logger: log})
}

// newBackend returns the configured backend and its Run.
func newBackend(cfg Config, set *storeSet, reg *jobs.Registry, log *slog.Logger) (server.Backend, func(context.Context) error, error) {
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
	uc := upstream.Config{
		URL:              cfg.HMCURL,
		CAFile:           cfg.HMCCAFile,
		Fingerprint:      cfg.HMCFingerprint,
		Credentials:      creds,
		Registry:         reg,
		Clock:            cfg.Clock,
		PollInterval:     cfg.HMCPollInterval,
		NotificationAddr: cfg.HMCStompAddr,
		Logger:           log.With("backend", BackendHMC),
	}
	run := withClaims(cfg, set, &uc)
	c, err := upstream.New(uc)
	if err != nil {
		return nil, nil, err
	}
	log.Info("hmc backend", "url", cfg.HMCURL, "userid", creds.UserID)
	return c, func(ctx context.Context) error { return run(ctx, c.Run) }, nil
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
