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

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/boltstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/upstream"
)

// StoreEtcd keeps the jobs in an etcd cluster, which several gateways
// (replicas) may share.
const StoreEtcd = "etcd"

// DefaultEtcdPrefix leads the keys of a gateway's jobs in etcd when
// Config.EtcdPrefix is empty.
const DefaultEtcdPrefix = "/bcpii-gateway/"

// EtcdConfig are the settings of the etcd store (Config.Store StoreEtcd).
type EtcdConfig struct {
	// Endpoints are the cluster's client URLs. Required with StoreEtcd.
	Endpoints []string
	// CAFile verifies the servers' certificates; CertFile and KeyFile are
	// the gateway's client certificate. With any of them set, the
	// endpoints are spoken to over TLS.
	CAFile, CertFile, KeyFile string
	// Prefix leads every key; gateways sharing a cluster under different
	// prefixes are different gateways. Empty means DefaultEtcdPrefix.
	Prefix string
	// CredentialsFile holds the etcd user ("userid: ..." and
	// "password: ..." lines), or Credentials give it (cmd takes them from
	// the environment); neither means no authentication.
	CredentialsFile string
	Credentials     upstream.Credentials
	// RequestTimeout bounds each request to etcd; zero means 5 seconds.
	// A request that runs out answers 503.1.
	RequestTimeout time.Duration
	// LeaseTTL is how long a replica's claims on the jobs it follows, and
	// its leadership of the retention sweep, outlive it; zero means 10
	// seconds. Another replica takes its jobs over within about this long.
	LeaseTTL time.Duration
}

func (c EtcdConfig) isSet() bool {
	return len(c.Endpoints) > 0 || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.Prefix != "" ||
		c.CredentialsFile != "" || c.Credentials != (upstream.Credentials{}) || c.RequestTimeout != 0 || c.LeaseTTL != 0
}

func (c EtcdConfig) validate(store string) []error {
	if store != StoreEtcd {
		if c.isSet() {
			return []error{errors.New("config: the etcd settings need the etcd store")}
		}
		return nil
	}
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("config: the etcd store needs at least one endpoint"))
	}
	for _, e := range c.Endpoints {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			errs = append(errs, fmt.Errorf("config: etcd endpoint %q is not an http:// or https:// URL", e))
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("config: an etcd client certificate and key go together"))
	}
	if c.CredentialsFile != "" && c.Credentials != (upstream.Credentials{}) {
		errs = append(errs, errors.New("config: etcd credentials come from a file or the environment, not both"))
	}
	if c.Credentials != (upstream.Credentials{}) && (c.Credentials.UserID == "" || c.Credentials.Password == "") {
		errs = append(errs, errors.New("config: etcd credentials need a userid and a password"))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, errors.New("config: the etcd request timeout must not be negative"))
	}
	if c.LeaseTTL != 0 && (c.LeaseTTL < 2*time.Second || c.LeaseTTL%time.Second != 0) {
		errs = append(errs, fmt.Errorf("config: the lease TTL %v is not a whole number of seconds of at least 2", c.LeaseTTL))
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		errs = append(errs, fmt.Errorf("config: etcd prefix %q must end with /", c.Prefix))
	}
	return errs
}

// openEtcd connects to the cluster and opens the store under the prefix.
func openEtcd(ctx context.Context, cfg Config, log *slog.Logger) (*etcdstore.Store, func(), error) {
	e := cfg.Etcd
	if e.Prefix == "" {
		e.Prefix = DefaultEtcdPrefix
	}
	creds := e.Credentials
	if e.CredentialsFile != "" {
		var err error
		if creds, err = upstream.LoadCredentials(e.CredentialsFile); err != nil {
			return nil, nil, fmt.Errorf("etcd: %w", err)
		}
	}
	var tlsCfg *tls.Config
	if e.CAFile != "" || e.CertFile != "" {
		info := transport.TLSInfo{TrustedCAFile: e.CAFile, CertFile: e.CertFile, KeyFile: e.KeyFile}
		var err error
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return nil, nil, fmt.Errorf("etcd TLS: %w", err)
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            e.Endpoints,
		TLS:                  tlsCfg,
		Username:             creds.UserID,
		Password:             creds.Password,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("etcd %s: %w", strings.Join(e.Endpoints, ","), err)
	}
	st, err := etcdstore.New(ctx, etcdstore.Config{
		Client:         cli,
		Prefix:         e.Prefix,
		RequestTimeout: e.RequestTimeout,
		Clock:          cfg.Clock,
		Logger:         log.With("store", StoreEtcd),
	})
	if err != nil {
		_ = cli.Close()
		return nil, nil, fmt.Errorf("etcd %s: %w", strings.Join(e.Endpoints, ","), err)
	}
	log.Info("etcd store", "endpoints", strings.Join(e.Endpoints, ","), "prefix", e.Prefix, "tls", tlsCfg != nil, "user", creds.UserID)
	return st, func() { _ = cli.Close() }, nil
}

// storeSet is what the configured store gives the gateway, opened
// together: its jobs, and what replicas on one store share. With the etcd
// store: the web-services sessions, the key that signs cursors (so that a
// cursor one replica gave works at another), claims on the jobs a replica
// follows, and the lead of the retention sweep, each under the store's
// prefix. Without replicas: sessions in memory, the key in the data
// directory, no claims, and this gateway leads.
type storeSet struct {
	jobs     jobs.Store
	sessions bcpii.SessionTable // nil: in memory
	secrets  secrets
	leader   leader
	// claims returns this replica's claims; nil where one gateway follows
	// every job.
	claims func(name string, ttl time.Duration) claimer
	close  func()
}

// secrets keep named secrets that replicas share.
type secrets interface {
	// Secret returns the secret called name, storing fresh as it if there
	// is none yet.
	Secret(ctx context.Context, name string, fresh []byte) ([]byte, error)
}

// leader runs f on one gateway of the store at a time.
type leader interface {
	Lead(ctx context.Context, name string, ttl time.Duration, f func(ctx context.Context))
}

// claimer is a replica's claims on the upstream jobs it follows, kept while
// Run runs.
type claimer interface {
	upstream.Claimer
	Run(ctx context.Context)
}

// fileSecrets keep secrets in the data directory, one file each.
type fileSecrets struct{ dir string }

func (f fileSecrets) Secret(_ context.Context, name string, _ []byte) ([]byte, error) {
	return loadOrCreateKey(filepath.Join(f.dir, strings.ReplaceAll(name, "-", ".")))
}

// alone leads: with no replicas, every lead is this gateway's.
type alone struct{}

func (alone) Lead(ctx context.Context, _ string, _ time.Duration, f func(ctx context.Context)) {
	f(ctx)
}

// openStore opens the configured store and what it shares.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (*storeSet, error) {
	local := &storeSet{secrets: fileSecrets{cfg.DataDir}, leader: alone{}, close: func() {}}
	switch cfg.Store {
	case StoreMemory:
		local.jobs = memstore.New()
		return local, nil
	case StoreEtcd:
		es, closeStore, err := openEtcd(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		return etcdSet(ctx, es, closeStore), nil
	}
	st, err := boltstore.Open(filepath.Join(cfg.DataDir, "jobs.db"))
	if err != nil {
		return nil, err
	}
	local.jobs, local.close = st, func() { _ = st.Close() }
	return local, nil
}

// etcdSet is the set of the etcd store; its session and job caches live
// until ctx ends.
func etcdSet(ctx context.Context, es *etcdstore.Store, closeStore func()) *storeSet {
	es.CacheJobs(ctx)
	return &storeSet{
		jobs: es, sessions: es.Sessions(ctx), secrets: es, leader: es, close: closeStore,
		claims: func(name string, ttl time.Duration) claimer { return es.Claims(name, ttl) },
	}
}

// sharedState is the cursor key and the session table of the set.
func sharedState(ctx context.Context, set *storeSet) (shared, error) {
	key, err := set.secrets.Secret(ctx, "cursor-key", server.NewCursorKey())
	if err != nil {
		return shared{}, fmt.Errorf("cursor key: %w", err)
	}
	return shared{cursorKey: key, sessions: set.sessions, leader: set.leader}, nil
}

// shared is what the servers take of the store set.
type shared struct {
	cursorKey []byte
	sessions  bcpii.SessionTable // nil: in memory
	leader    leader
}

// replicaName names this process in its claims, for operators.
func replicaName(cfg Config) string {
	host, err := os.Hostname()
	if err != nil {
		host = "gateway"
	}
	return fmt.Sprintf("%s/%d %s", host, os.Getpid(), cfg.DataDir)
}

// withClaims gives the upstream client the claims of this replica where
// the store has them, and returns the Run that keeps them beside the
// client's.
func withClaims(cfg Config, set *storeSet, uc *upstream.Config) func(ctx context.Context, run func(context.Context) error) error {
	if set.claims == nil {
		return func(ctx context.Context, run func(context.Context) error) error { return run(ctx) }
	}
	claims := set.claims(replicaName(cfg), cfg.Etcd.LeaseTTL)
	uc.Claims = claims
	return func(ctx context.Context, run func(context.Context) error) error {
		done := make(chan struct{})
		go func() { defer close(done); claims.Run(ctx) }()
		err := run(ctx)
		<-done
		return err
	}
}

// runSweeper runs the retention sweep on one gateway of the store at a
// time: with the etcd store, the leader of an election under the prefix.
func runSweeper(ctx context.Context, cfg Config, l leader, reg *jobs.Registry) {
	l.Lead(ctx, "sweeper", cfg.Etcd.LeaseTTL, func(ctx context.Context) { reg.RunSweeper(ctx, cfg.SweepInterval) })
}
