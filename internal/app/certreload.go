package app

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
)

// certReloader serves the certificate in a pair of PEM files, read again
// when either file changes (modification time or size), so that a rotated
// certificate is served to new connections without a restart. A pair that
// does not load (a rotation half written, say) leaves the last good one in
// service.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	certStat fileStamp
	keyStat  fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

func newCertReloader(certFile, keyFile string, first tls.Certificate, log *slog.Logger) *certReloader {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, cert: &first}
	r.certStat, _ = stampOf(certFile)
	r.keyStat, _ = stampOf(keyFile)
	return r
}

// GetCertificate is tls.Config.GetCertificate: two stat calls a handshake,
// a read only when a file changed.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, errC := stampOf(r.certFile)
	ks, errK := stampOf(r.keyFile)
	if errC != nil || errK != nil || (cs == r.certStat && ks == r.keyStat) {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Warn("rotated TLS certificate does not load; serving the previous one", "cert", r.certFile, "err", err)
		// Tried once per change, not on every handshake.
		r.certStat, r.keyStat = cs, ks
		return r.cert, nil
	}
	r.cert, r.certStat, r.keyStat = &cert, cs, ks
	r.log.Info("reloaded TLS certificate", "cert", r.certFile, "sha256_fingerprint", tlsutil.Fingerprint(cert))
	return r.cert, nil
}
