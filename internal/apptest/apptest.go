// Package apptest holds what tests that run whole gateways share: data
// directories that fit a Unix socket path, trust in a gateway's generated
// certificate, and gRPC clients whose calls cannot hang a test.
package apptest

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
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

// CallLimit bounds every gRPC call of a test's client connection that has
// no deadline of its own, streams included: a call that never answers, or
// a stream that stops, fails the test within d instead of hanging it.
func CallLimit(d time.Duration) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			if _, ok := ctx.Deadline(); ok {
				return streamer(ctx, desc, cc, method, opts...)
			}
			ctx, cancel := context.WithTimeout(ctx, d)
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				cancel()
				return nil, err
			}
			return boundedStream{s, cancel}, nil
		}),
	}
}

// boundedStream releases its deadline's timer once the stream has ended.
type boundedStream struct {
	grpc.ClientStream
	cancel context.CancelFunc
}

func (s boundedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.cancel()
	}
	return err
}
