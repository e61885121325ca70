// Command bcpii-gateway serves the HMC job operations to programs in
// partitions over gRPC and over the HMC's own REST wire format. With no flags it keeps its jobs in an embedded bbolt
// store under the user's data directory and serves TLS with a self-signed
// certificate it creates there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "bcpii-gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bcpii-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg app.Config
	var logLevel, logFormat string
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(getenv), "directory for the job store and the generated certificate (env BCPII_DATA_DIR)")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", ":6795", "gRPC listen address")
	fs.StringVar(&cfg.RESTAddr, "rest-addr", ":6794", "REST (HMC Web Services API) listen address")
	fs.StringVar(&cfg.StompAddr, "stomp-addr", ":61612", `STOMP (HMC job notifications) listen address ("-" for none)`)
	fs.StringVar(&cfg.Store, "store", app.StoreBolt, "job store: bbolt (embedded, durable) or memory")
	fs.BoolVar(&cfg.Plaintext, "plaintext", false, "serve gRPC and REST without TLS (local development only)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM server certificate (default: self-signed, created in the data directory)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.Partition, "partition", app.DefaultPartition, "target name of the partition the gateway runs in")
	fs.StringVar(&cfg.UsersFile, "users-file", "", "YAML file of API users with bcrypt password hashes (default: no API users)")
	fs.DurationVar(&cfg.SessionLifetime, "session-lifetime", 0, "lifetime of a web-services session (default 10h)")
	fs.StringVar(&cfg.ClientCAFile, "client-ca", "", "PEM CA bundle for client certificates naming requesting partitions (URI SAN urn:bcpii:partition:NETID.NAU.LPAR)")
	fs.BoolVar(&cfg.NoLoopbackIdentity, "no-loopback-identity", false, "do not treat loopback connections as the local partition (the Unix socket still is)")
	fs.StringVar(&cfg.Socket, "socket", "", `gRPC Unix socket for local programs (default DATA/grpc.sock; "-" for none)`)
	fs.StringVar(&cfg.Inventory, "inventory", "", "simulated SE inventory file, YAML or JSON (default: built in)")
	fs.DurationVar(&cfg.Retention, "retention", 0, "how long ended jobs are kept (default and minimum 4h)")
	fs.StringVar(&cfg.Backend, "backend", app.BackendSim, "what runs the operations: sim (the simulated SE) or hmc (an upstream HMC)")
	fs.StringVar(&cfg.HMCURL, "hmc-url", "", "upstream HMC Web Services API, https://host[:port] (port 6794 if absent)")
	fs.StringVar(&cfg.HMCCAFile, "hmc-ca", "", "PEM CA bundle to verify the HMC's certificate with (default: system roots)")
	fs.StringVar(&cfg.HMCFingerprint, "hmc-fingerprint", "", "SHA-256 fingerprint pinning the HMC's certificate (hex, colons optional)")
	fs.StringVar(&cfg.HMCCredentialsFile, "hmc-credentials", "", `file with the HMC API user: "userid: ..." and "password: ..." lines (default: env BCPII_HMC_USERID and BCPII_HMC_PASSWORD)`)
	fs.DurationVar(&cfg.HMCPollInterval, "hmc-poll-interval", 0, "how often a running HMC job is queried (default 5s)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bcpii-gateway [flags]\n\nServes HMC job operations over gRPC and the HMC Web Services API REST format.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if cfg.Backend == app.BackendHMC {
		// Credentials never come from a flag, which other users can see.
		cfg.HMCCredentials.UserID = getenv("BCPII_HMC_USERID")
		cfg.HMCCredentials.Password = getenv("BCPII_HMC_PASSWORD")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch logFormat {
	case "text":
		log = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return fmt.Errorf("--log-format %q is not text or json", logFormat)
	}
	_ = stdout
	return app.Run(ctx, cfg, log)
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
