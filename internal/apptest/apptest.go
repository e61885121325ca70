// Package apptest holds what tests that run whole gateways share: data
// directories that fit a Unix socket path, and trust in a gateway's
// generated certificate.
package apptest

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// DataDir is a temporary data directory whose grpc.sock path fits in a
// Unix socket address (108 bytes on Linux).
func DataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if len(filepath.Join(dir, "grpc.sock")) < 100 {
		return dir
	}
	dir, err := os.MkdirTemp("", "bg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Certificate reads the certificate a gateway generated in dataDir and
// returns it as PEM and as a pool to trust.
func Certificate(t testing.TB, dataDir string) ([]byte, *x509.CertPool) {
	t.Helper()
	crt, err := os.ReadFile(filepath.Join(dataDir, "tls", "gateway.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(crt) {
		t.Fatalf("no certificate in %s/tls/gateway.crt", dataDir)
	}
	return crt, pool
}

// LogBuffer is a log destination safe for many goroutines, for tests that
// read what a gateway logged.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
