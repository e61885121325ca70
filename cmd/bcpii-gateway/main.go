// Command bcpii-gateway serves the HMC job operations to programs in
// partitions over gRPC and over the HMC's own REST wire format. With no flags it keeps its jobs in an embedded bbolt
// store under the user's data directory and serves TLS with a self-signed
// certificate it creates there.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/logbuf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bcpii-gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newCommand(getenv, stdin, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newCommand is the gateway's command line: the flags of app.Config, each
// also BCPII_<FLAG> in the environment and a key of the --config file.
func newCommand(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var cfg app.Config
	var o options
	root := &cobra.Command{
		Use:   "bcpii-gateway",
		Short: "Serves HMC job operations over gRPC and the HMC Web Services API REST format",
		Long: "Serves HMC job operations over gRPC and the HMC Web Services API REST format.\n\n" +
			"Every flag can also be set as BCPII_<FLAG> in the environment (--hmc-url: BCPII_HMC_URL)\n" +
			"and as a key of the YAML file --config names (hmc-url: https://hmc.example.com).\n" +
			"A flag wins over the environment, the environment over the file, the file over the default.",
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.version {
				_, err := fmt.Fprintln(stdout, "bcpii-gateway", version.Get().String())
				return err
			}
			if err := configure(cmd.Flags(), getenv); err != nil {
				return err
			}
			return serve(cmd.Context(), &cfg, o, getenv, stderr)
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	defineFlags(root.Flags(), &cfg, &o, getenv)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w%s (see --help)", err, suggestFlag(cmd.Flags(), err))
	})
	root.SetUsageFunc(groupedUsage)
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		fmt.Fprintf(cmd.OutOrStdout(), "%s\n\n", cmd.Long)
		_ = groupedUsage(cmd)
	})
	root.AddCommand(hashPasswordCommand(stdin, stdout, stderr))
	return root
}

func serve(ctx context.Context, cfg *app.Config, o options, getenv func(string) string, stderr io.Writer) error {
	if cfg.Backend == app.BackendHMC {
		// Credentials never come from a flag, which other users can see.
		cfg.HMCCredentials.UserID = getenv("BCPII_HMC_USERID")
		cfg.HMCCredentials.Password = getenv("BCPII_HMC_PASSWORD")
	}
	if cfg.Store == app.StoreEtcd {
		// Likewise the etcd user's.
		cfg.Etcd.Credentials.UserID = getenv("BCPII_ETCD_USERID")
		cfg.Etcd.Credentials.Password = getenv("BCPII_ETCD_PASSWORD")
	}
	cfg.Tracing, cfg.TracingProtocol = tracingFromEnv(getenv)
	// Lines logged at once share a write (internal/logbuf).
	logOut := logbuf.New(stderr)
	defer logOut.Close()
	log, err := newLogger(o.logLevel, o.logFormat, logOut)
	if err != nil {
		return err
	}
	return app.Run(ctx, *cfg, log)
}

// options are the flags that are not app.Config fields.
type options struct {
	logLevel, logFormat, config string
	version                     bool
}

// flagGroups orders the help; every flag is in one group.
var flagGroups = []struct {
	title string
	flags []string
}{
	{"Listeners", []string{"grpc-addr", "rest-addr", "stomp-addr", "socket", "socket-group", "admin-addr", "pprof", "max-conns-per-source", "shutdown-grace"}},
	{"Who may ask", []string{"partition", "users-file", "session-lifetime", "client-ca", "no-loopback-identity", "plaintext", "tls-cert", "tls-key"}},
	{"Jobs and their store", []string{"data-dir", "store", "retention", "etcd-endpoints", "etcd-prefix", "etcd-ca", "etcd-cert", "etcd-key", "etcd-credentials", "lease-ttl"}},
	{"What runs the operations", []string{"backend", "inventory", "hmc-url", "hmc-ca", "hmc-fingerprint", "hmc-credentials", "hmc-poll-interval", "hmc-stomp-addr"}},
	{"This command", []string{"config", "log-level", "log-format", "version", "help"}},
}

func defineFlags(fs *pflag.FlagSet, cfg *app.Config, o *options, getenv func(string) string) {
	fs.SortFlags = false
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(getenv), "directory for the job store and the generated certificate")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", ":6795", "gRPC listen address")
	fs.StringVar(&cfg.RESTAddr, "rest-addr", ":6794", "REST (HMC Web Services API) listen address")
	fs.StringVar(&cfg.StompAddr, "stomp-addr", ":61612", `STOMP (HMC job notifications) listen address ("-" for none)`)
	fs.StringVar(&cfg.Store, "store", app.StoreBolt, "job store: bbolt (embedded, durable), memory, or etcd (shared by replicas)")
	fs.Func("etcd-endpoints", "comma-separated etcd client URLs, for --store etcd", func(v string) error {
		cfg.Etcd.Endpoints = nil
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				cfg.Etcd.Endpoints = append(cfg.Etcd.Endpoints, e)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.Etcd.CAFile, "etcd-ca", "", "PEM CA bundle to verify the etcd servers with (turns on TLS)")
	fs.StringVar(&cfg.Etcd.CertFile, "etcd-cert", "", "PEM client certificate for etcd (turns on TLS)")
	fs.StringVar(&cfg.Etcd.KeyFile, "etcd-key", "", "PEM private key of --etcd-cert")
	fs.StringVar(&cfg.Etcd.Prefix, "etcd-prefix", "", "key prefix of this gateway's data in etcd; replicas share one (default "+app.DefaultEtcdPrefix+")")
	fs.DurationVar(&cfg.Etcd.LeaseTTL, "lease-ttl", 0, "with --store etcd: how long a replica's claims on its jobs outlive it, whole seconds (default 10s)")
	fs.StringVar(&cfg.Etcd.CredentialsFile, "etcd-credentials", "", `YAML file with the etcd user, "userid: ..." and "password: ..." (default: env BCPII_ETCD_USERID and BCPII_ETCD_PASSWORD, else none)`)
	fs.BoolVar(&cfg.Plaintext, "plaintext", false, "serve gRPC and REST without TLS (local development only)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM server certificate (default: self-signed, created in the data directory)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.Partition, "partition", app.DefaultPartition, "target name of the partition the gateway runs in")
	fs.StringVar(&cfg.UsersFile, "users-file", "", "YAML file of API users with bcrypt password hashes (default: no API users)")
	fs.DurationVar(&cfg.SessionLifetime, "session-lifetime", 0, "lifetime of a web-services session (default 10h)")
	fs.StringVar(&cfg.ClientCAFile, "client-ca", "", "PEM CA bundle for client certificates naming requesting partitions (URI SAN urn:bcpii:partition:NETID.NAU.LPAR)")
	fs.BoolVar(&cfg.NoLoopbackIdentity, "no-loopback-identity", false, "do not treat loopback connections as the local partition (the Unix socket still is)")
	fs.StringVar(&cfg.Socket, "socket", "", `gRPC Unix socket for local programs (default DATA/grpc.sock; "-" for none)`)
	fs.StringVar(&cfg.SocketGroup, "socket-group", "", "open the Unix socket to this group's members too (mode 0660): each is the local partition (default: the gateway's user alone)")
	fs.StringVar(&cfg.Inventory, "inventory", "", "simulated SE inventory file, YAML or JSON (default: built in)")
	fs.DurationVar(&cfg.Retention, "retention", 0, "how long ended jobs are kept (default and minimum 4h)")
	fs.StringVar(&cfg.Backend, "backend", app.BackendSim, "what runs the operations: sim (the simulated SE) or hmc (an upstream HMC)")
	fs.StringVar(&cfg.HMCURL, "hmc-url", "", "upstream HMC Web Services API, https://host[:port] (port 6794 if absent)")
	fs.StringVar(&cfg.HMCCAFile, "hmc-ca", "", "PEM CA bundle to verify the HMC's certificate with (default: system roots)")
	fs.StringVar(&cfg.HMCFingerprint, "hmc-fingerprint", "", "SHA-256 fingerprint pinning the HMC's certificate (hex, colons optional)")
	fs.StringVar(&cfg.HMCCredentialsFile, "hmc-credentials", "", `YAML file with the HMC API user, "userid: ..." and "password: ..." (default: env BCPII_HMC_USERID and BCPII_HMC_PASSWORD)`)
	fs.DurationVar(&cfg.HMCPollInterval, "hmc-poll-interval", 0, "how often a running HMC job is queried (default 5s)")
	fs.StringVar(&cfg.HMCStompAddr, "hmc-stomp-addr", "", "the HMC's STOMP notification address, host:port, whose job completions are followed with polling as a safety net (default: the HMC URL's host, port 61612; \"-\" to poll only)")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 0, "on SIGTERM, how long calls in flight, watch and event streams and STOMP subscriptions go on (default 10s)")
	fs.IntVar(&cfg.MaxConnsPerSource, "max-conns-per-source", 0, "REST connections one source address may hold open at once; more are answered 503 and closed (default 128; raise it behind a proxy or NAT)")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", app.DefaultAdminAddr, `admin listener for /metrics, /healthz, /readyz and pprof ("-" for none)`)
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve the runtime profiles under /debug/pprof/ on the admin listener")
	fs.StringVar(&o.config, "config", "", "YAML file of settings, its keys the flags' names (rest-addr: \":6794\")")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolP("help", "h", false, "show this help")
}

// groupedUsage prints the flags by flagGroups, each with its variable.
func groupedUsage(cmd *cobra.Command) error {
	w := cmd.OutOrStderr()
	if cmd.HasParent() {
		fmt.Fprintf(w, "Usage: %s\n\nFlags:\n%s", cmd.UseLine(), cmd.Flags().FlagUsages())
		return nil
	}
	fmt.Fprintf(w, "Usage: bcpii-gateway [flags]\n       bcpii-gateway hash-password [--cost N] USER\n")
	for _, g := range flagGroups {
		group := pflag.NewFlagSet(g.title, pflag.ContinueOnError)
		group.SortFlags = false
		for _, name := range g.flags {
			if f := cmd.Flags().Lookup(name); f != nil {
				c := *f
				if name != "help" && name != "version" && name != "config" {
					c.Usage += " [" + envName(name) + "]"
				} else if name == "config" {
					c.Usage += " [BCPII_CONFIG]"
				}
				group.AddFlag(&c)
			}
		}
		fmt.Fprintf(w, "\n%s:\n%s", g.title, group.FlagUsages())
	}
	return nil
}

func envName(flagName string) string {
	return "BCPII_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// tracingFromEnv turns tracing on when an OTLP endpoint is configured
// the standard way, unless OpenTelemetry is turned off the standard way.
func tracingFromEnv(getenv func(string) string) (on bool, protocol string) {
	if getenv("OTEL_SDK_DISABLED") == "true" || getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false, ""
	}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, ""
	}
	protocol = getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	return true, protocol
}

func newLogger(logLevel, logFormat string, stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q is not text or json", logFormat)
}

// defaultDataDir is $BCPII_DATA_DIR, else $XDG_DATA_HOME/bcpii-gateway,
// else ~/.local/share/bcpii-gateway.
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("BCPII_DATA_DIR"); d != "" {
		return d
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "bcpii-gateway")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "bcpii-gateway")
	}
	return "bcpii-gateway-data"
}
