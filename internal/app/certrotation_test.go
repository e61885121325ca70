package app_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"
)

// servedCert opens a new TLS connection to addr and returns the
// certificate the server presented.
func servedCert(t *testing.T, addr string, roots *x509.CertPool, alpn ...string) *x509.Certificate {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitLimit},
		Config: &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: alpn, MinVersion: tls.VersionTLS12}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0]
}

// TestCertificateRotation replaces the certificate files under a running
// gateway: new connections to both ports get the new certificate, with no
// restart.
func TestCertificateRotation(t *testing.T) {
	g := startGateway(t, nil)
	old := servedCert(t, g.addrs.REST, g.roots)

	// A new pair, made the way the gateway makes its own, in another
	// directory, then moved over the served files (key first).
	fresh := t.TempDir()
	if _, _, err := tlsutil.LoadOrCreate(fresh, time.Now()); err != nil {
		t.Fatal(err)
	}
	newPEM, err := os.ReadFile(filepath.Join(fresh, tlsutil.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	served := filepath.Join(g.cfg.DataDir, "tls")
	later := time.Now().Add(time.Minute) // a modification time surely not the old one's
	for _, name := range []string{tlsutil.KeyFile, tlsutil.CertFile} {
		if err := os.Chtimes(filepath.Join(fresh, name), later, later); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(fresh, name), filepath.Join(served, name)); err != nil {
			t.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(newPEM) {
		t.Fatal("no certificate in the new file")
	}

	rest := servedCert(t, g.addrs.REST, roots)
	grpcCert := servedCert(t, g.addrs.GRPC, roots, "h2")
	for what, c := range map[string]*x509.Certificate{"REST": rest, "gRPC": grpcCert} {
		if bytes.Equal(c.Raw, old.Raw) {
			t.Errorf("%s still serves the old certificate", what)
		}
	}
	// The gateway still answers requests over the new certificate.
	a := g.rest(t, g.restClientTLS(t, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}), "GET", "/api/version", nil, "")
	if a.status != 200 {
		t.Errorf("GET /api/version over the new certificate: %d %s", a.status, a.body)
	}
}
