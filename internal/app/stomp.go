package app

import (
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/notify"
	"github.com/bcpii-gateway/bcpii-gateway/internal/osmsg"
)

// newNotify builds the STOMP notification server. It judges who connects
// with the same authenticator as the gRPC and REST doors, and follows the
// registry's completion feed.
func newNotify(cfg Config, reg *jobs.Registry, auth *bcpii.Authenticator, backend any, log *slog.Logger) (*notify.Server, error) {
	nc := notify.Config{
		Registry:      reg,
		Authenticator: auth,
		Loopback:      !cfg.NoLoopbackIdentity,
		Clock:         cfg.Clock,
		Logger:        log.With("listener", "stomp"),
		ShutdownGrace: cfg.grace(),
	}
	// The simulated SE's OS message channels are served beside the job
	// topics.
	if b, ok := backend.(interface{ OSMessages() *osmsg.Hub }); ok {
		nc.OSMessages = b.OSMessages()
	}
	return notify.New(nc)
}

// stompListener serves STOMP over TLS, with the certificate and client
// certificate rules of the other listeners, unless the gateway runs in
// plaintext (tlsConfig nil).
func stompListener(lis net.Listener, tlsConfig *tls.Config) net.Listener {
	if tlsConfig == nil {
		return lis
	}
	return tls.NewListener(lis, tlsConfig)
}
