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
	"os/user"
	"strconv"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/version"
)

// listeners are the gateway's open listeners; close closes them if Run
// fails before serving.
type listeners struct {
	grpc, rest, socket net.Listener // socket is nil with none
	admin              net.Listener // nil with none
	stomp              net.Listener // nil with none
	socketPath         string
	all                []net.Listener
}

func (l *listeners) listen(network, addr string) (net.Listener, error) {
	lis, err := net.Listen(network, addr)
	if err == nil {
		l.all = append(l.all, lis)
	}
	return lis, err
}

// open opens the gRPC, REST and Unix socket listeners cfg names.
func (l *listeners) open(cfg Config) error {
	var err error
	if l.grpc, err = l.listen("tcp", cfg.GRPCAddr); err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	if l.rest, err = l.listen("tcp", cfg.RESTAddr); err != nil {
		return fmt.Errorf("rest listener: %w", err)
	}
	if cfg.AdminAddr != "" && cfg.AdminAddr != "-" {
		if l.admin, err = l.listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
	}
	if cfg.StompAddr != "-" {
		if l.stomp, err = l.listen("tcp", cfg.StompAddr); err != nil {
			return fmt.Errorf("stomp listener: %w", err)
		}
	}
	if cfg.Socket == "-" {
		return nil
	}
	_ = os.Remove(cfg.Socket) // a socket left by an earlier run
	if l.socket, err = l.listen("unix", cfg.Socket); err != nil {
		return fmt.Errorf("unix socket: %w", err)
	}
	if err := socketAccess(cfg.Socket, cfg.SocketGroup); err != nil {
		return fmt.Errorf("unix socket: %w", err)
	}
	l.socketPath = cfg.Socket
	return nil
}

func (l *listeners) announce(cfg Config, tls bool, log *slog.Logger) {
	log.Info("grpc listening", "addr", l.grpc.Addr().String(), "tls", tls,
		"store", cfg.Store, "data_dir", cfg.DataDir, "partition", cfg.Partition, "version", version.Get().Version)
	log.Info("rest listening", "addr", l.rest.Addr().String(), "tls", tls)
	if l.socket != nil {
		log.Info("grpc socket listening", "path", l.socketPath)
	}
	if l.admin != nil {
		log.Info("admin listening", "addr", l.admin.Addr().String(), "pprof", cfg.Pprof)
	}
	if l.stomp != nil {
		log.Info("stomp listening", "addr", l.stomp.Addr().String(), "tls", tls)
	}
}

func (l *listeners) addresses() Addresses {
	a := Addresses{GRPC: l.grpc.Addr().String(), REST: l.rest.Addr().String(), Socket: l.socketPath}
	if l.admin != nil {
		a.Admin = l.admin.Addr().String()
	}
	if l.stomp != nil {
		a.STOMP = l.stomp.Addr().String()
	}
	return a
}

func (l *listeners) close() {
	for _, lis := range l.all {
		_ = lis.Close()
	}
}

// grace is ShutdownGrace or its default.
func (c Config) grace() time.Duration {
	if c.ShutdownGrace == 0 {
		return 10 * time.Second
	}
	return c.ShutdownGrace
}

// serveREST serves the REST gateway over HTTP/1.1, as the HMC does, until
// ctx ends, then lets requests in flight finish within grace.
//
// Slow and idle clients are bounded: a request's headers must arrive within
// 10 seconds and the whole request within cfg.RESTReadTimeout, an answer
// must be written within a minute (event streams set their own write
// deadlines), an idle connection closes after 2 minutes, and one source
// address holds at most cfg.MaxConnsPerSource connections at once.
func serveREST(ctx context.Context, cfg Config, h http.Handler, lis net.Listener, tlsConfig *tls.Config, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           withTLSState(h),
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.RESTReadTimeout,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		// An empty map turns HTTP/2 off: HMC clients speak HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The listener makes the TLS connections, so that net/http's own
	// plain-text answers can be made HMC error bodies (httperrors.go).
	lis = &hmcListener{Listener: newLimitListener(lis, cfg.MaxConnsPerSource, tlsConfig), tls: tlsConfig}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.grace())
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// socketAccess opens the Unix socket to its owner alone, or with a group
// to the members of that group too (0660): whoever may connect is the
// local partition.
func socketAccess(path, group string) error {
	if group == "" {
		return os.Chmod(path, 0o600)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return err
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return fmt.Errorf("group %s: gid %q", group, g.Gid)
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return err
	}
	return os.Chmod(path, 0o660)
}
