// Package etcdtest runs a real, single-member etcd server inside a test
// process (go.etcd.io/etcd/server/v3/embed) in a temporary directory on
// free loopback ports, and stops it when the test ends. A test can stop
// the server and start it again on the same ports and data, to see how its
// clients live through an outage.
package etcdtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// StartTimeout bounds how long the server may take to become ready.
const StartTimeout = 20 * time.Second

// Server is an embedded etcd server.
type Server struct {
	t      testing.TB
	dir    string
	client url.URL
	peer   url.URL
	quota  int64
	mu     sync.Mutex
	etcd   *embed.Etcd
}

// Start starts a server that is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWithQuota(t, 8<<30)
}

// StartWithQuota starts a server whose backend may hold quota bytes; past
// them etcd refuses writes ("database space exceeded") until space is
// reclaimed and its alarm disarmed.
func StartWithQuota(t testing.TB, quota int64) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), quota: quota}
	var err error
	for range 5 { // a port found free may be taken before etcd binds it
		s.client, s.peer = freeURL(t), freeURL(t)
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("etcdtest: start: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// freeURL returns the URL of a loopback port free now, below the
// kernel's range of ephemeral ports: a server stopped and started again
// on it (Restart) finds it still free, as no connection, not even a
// client's own reconnecting to it, is given it as its local port.
func freeURL(t testing.TB) url.URL {
	t.Helper()
	low := ephemeralLow()
	for range 100 {
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		return url.URL{Scheme: "http", Host: addr}
	}
	t.Fatalf("etcdtest: no free port found below %d", low)
	return url.URL{}
}

// ephemeralLow is the first port of the kernel's ephemeral range, 32768
// where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 11000 {
		return 32768
	}
	return low
}

func (s *Server) start() error {
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = s.dir
	cfg.ListenClientUrls = []url.URL{s.client}
	cfg.AdvertiseClientUrls = []url.URL{s.client}
	cfg.ListenPeerUrls = []url.URL{s.peer}
	cfg.AdvertisePeerUrls = []url.URL{s.peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	// Start gives room for the large-store benchmark's million jobs;
	// etcd's default quota is 2 GiB.
	cfg.QuotaBackendBytes = s.quota
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("server failed: %w", err)
	case <-time.After(StartTimeout):
		e.Close()
		return fmt.Errorf("server not ready within %v", StartTimeout)
	}
	s.mu.Lock()
	s.etcd = e
	s.mu.Unlock()
	return nil
}

// Endpoint is the server's client URL.
func (s *Server) Endpoint() string { return s.client.String() }

// Client returns a client of the server that is closed when the test ends.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the server; its data stay. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}

// Restart starts a stopped server again on the same ports and data.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("etcdtest: restart: %v", err)
	}
}
