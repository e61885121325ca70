package etcdtest

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Binary is the etcd a Cluster runs: Debian's etcd-server, or the
// program BCPII_ETCD_BINARY names, such as a newer etcd built with
// "go build -o etcd go.etcd.io/etcd/server/v3" from this module, which
// requires the version the embedded server is.
var Binary = cmp.Or(os.Getenv("BCPII_ETCD_BINARY"), "/usr/bin/etcd")

// Member is one etcd process of a Cluster.
type Member struct {
	t       testing.TB
	name    string
	dir     string
	client  string
	peer    string
	cluster string   // the initial members: name=peer URL, ...
	args    []string // more flags
	env     []string // more environment, NAME=value
	mu      sync.Mutex
	cmd     *exec.Cmd
}

// Cluster is a cluster of real etcd processes on loopback ports, each a
// Member a test may kill (SIGKILL) and start again on its data.
type Cluster struct {
	Members []*Member
}

// StartCluster starts a cluster of n members, stopped when the test ends,
// and returns once every member answers. Without the etcd binary the test
// is skipped, or fails when CI=true: CI installs it.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartClusterOn(t, n, "127.0.0.1")
}

// StartClusterOn is StartCluster with the members listening on host, an
// address of this machine, such as one other network namespaces reach,
// and args as more flags of every member.
func StartClusterOn(t testing.TB, n int, host string, args ...string) *Cluster {
	t.Helper()
	return StartClusterEnv(t, n, host, nil, args...)
}

// StartClusterEnv is StartClusterOn with env (NAME=value, such as GOGC=400)
// added to every member's environment.
func StartClusterEnv(t testing.TB, n int, host string, env []string, args ...string) *Cluster {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (Debian etcd-server): %v", Binary, err)
		}
		t.Skipf("%s is not installed (Debian etcd-server)", Binary)
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		client, peer := freeURL(t), freeURL(t)
		client.Host = net.JoinHostPort(host, client.Port())
		peer.Host = net.JoinHostPort(host, peer.Port())
		m := &Member{t: t, name: fmt.Sprintf("member%d", i), dir: t.TempDir(), client: client.String(), peer: peer.String(), args: args, env: env}
		c.Members = append(c.Members, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	for _, m := range c.Members {
		m.cluster = strings.Join(initial, ",")
		m.start()
		t.Cleanup(m.Kill)
	}
	for _, m := range c.Members {
		m.waitReady()
	}
	return c
}

func (m *Member) start() {
	m.t.Helper()
	log, err := os.OpenFile(filepath.Join(m.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(Binary, "--name", m.name, "--data-dir", filepath.Join(m.dir, "data"),
		"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
		"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", m.cluster, "--initial-cluster-token", "etcdtest", "--log-level", "warn")
	cmd.Args = append(cmd.Args, m.args...)
	cmd.Env = append(os.Environ(), m.env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.mu.Lock()
	m.cmd = cmd
	m.mu.Unlock()
}

// waitReady waits until the member answers a linearizable read, within
// StartTimeout.
func (m *Member) waitReady() {
	m.t.Helper()
	cli := m.Client()
	defer cli.Close()
	deadline := time.Now().Add(StartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "ready")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(m.dir, "etcd.log"))
			m.t.Fatalf("etcd member %s did not answer within %v: %v\n%s", m.name, StartTimeout, err, log)
		}
	}
}

// Client is a client of this member alone; the caller closes it.
func (m *Member) Client() *clientv3.Client {
	m.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.client}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		m.t.Fatal(err)
	}
	return cli
}

// Endpoint is the member's client URL.
func (m *Member) Endpoint() string { return m.client }

// Kill kills the member's process (SIGKILL) and waits for it; its data
// stay. Killing a killed member does nothing.
func (m *Member) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		m.cmd = nil
	}
}

// Restart starts a killed member again on its data and waits until it
// answers.
func (m *Member) Restart() {
	m.t.Helper()
	m.start()
	m.waitReady()
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.client)
	}
	return out
}

// Leader returns the index of the member that leads, as the members that
// answer say, or -1 when none does.
func (c *Cluster) Leader() int {
	for i, m := range c.Members {
		cli := m.Client()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.client)
		cancel()
		cli.Close()
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	return -1
}
