package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
)

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

func authenticator(cfg Config, sessions bcpii.SessionTable) (*bcpii.Authenticator, error) {
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
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("users: %w (write one with 'bcpii-gateway hash-password NAME', or name another with --users-file)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return &bcpii.Authenticator{Local: local, Sessions: bcpii.NewSessionsIn(users, cfg.Clock, cfg.SessionLifetime, sessions)}, nil
}

// serverTLS is the TLS configuration of both listeners; the certificate
// is read again when its files change. With a client CA,
// a client certificate is optional, but one that is presented must chain
// to the CA and name a requesting partition, or the handshake fails.
func serverTLS(cfg Config, log *slog.Logger) (*tls.Config, error) {
	cert, err := loadCert(cfg, log)
	if err != nil {
		return nil, err
	}
	certFile, keyFile := cfg.TLSCert, cfg.TLSKey
	if certFile == "" {
		dir := filepath.Join(cfg.DataDir, "tls")
		certFile, keyFile = filepath.Join(dir, tlsutil.CertFile), filepath.Join(dir, tlsutil.KeyFile)
	}
	// Every handshake asks the reloader, so a rotated pair of files is
	// served to the next connection.
	reload := newCertReloader(certFile, keyFile, cert, log)
	tc := &tls.Config{GetCertificate: reload.GetCertificate, MinVersion: tls.VersionTLS12}
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
		cert := cs.PeerCertificates[0]
		_, err := bcpii.PartitionFromCertificate(cert)
		if err != nil {
			// Only certificates of the partitions' CA get here: the
			// operator wants to know why one of theirs is refused.
			log.Warn("client certificate refused", "subject", cert.Subject.String(),
				"serial", cert.SerialNumber.String(), "reason", err.Error())
		}
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
