package app_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// The upstream gateway's API user, as which the replicas act on it.
const upstreamUser, upstreamPassword = "gateway", "Upstream-Passw0rd"

// startUpstream starts a gateway on the simulated SE, on a fake clock, to
// be the upstream HMC of replicas.
func startUpstream(t *testing.T) *gateway {
	t.Helper()
	return startGateway(t, nil, func(c *app.Config) {
		c.UsersFile = writeUsers(t, map[string]string{upstreamUser: upstreamPassword})
	})
}

// startReplicas starts n gateways on the hmc backend with up as their
// upstream HMC, all on the etcd server srv under one prefix, as opts
// change them. They run on the system clock (they poll up and keep their
// leases in real time); the jobs end when up's fake clock says.
func startReplicas(t *testing.T, up *gateway, srv *etcdtest.Server, n int, opts ...func(*app.Config)) []*gateway {
	t.Helper()
	creds := filepath.Join(t.TempDir(), "hmc-credentials")
	if err := os.WriteFile(creds, []byte("userid: "+upstreamUser+"\npassword: "+upstreamPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out []*gateway
	for range n {
		out = append(out, startGateway(t, nil, func(c *app.Config) {
			c.Clock = nil
			c.Backend = app.BackendHMC
			c.HMCURL = "https://" + up.addrs.REST
			c.HMCCAFile = filepath.Join(up.cfg.DataDir, "tls", "gateway.crt")
			c.HMCCredentialsFile = creds
			c.HMCPollInterval = 50 * time.Millisecond
			c.HMCStompAddr = "-"
			c.Store = app.StoreEtcd
			c.Etcd = app.EtcdConfig{Endpoints: []string{srv.Endpoint()}, Prefix: "/replicas/", LeaseTTL: 5 * time.Second, RequestTimeout: 5 * time.Second}
			for _, o := range opts {
				o(c)
			}
		}))
	}
	return out
}

// partitionReplicas starts an upstream and n replicas on one etcd, all
// replicas trusting ca for partition certificates, without a loopback
// identity, and knowing users.
func partitionReplicas(t *testing.T, ca *testCA, users map[string]string, n int) (*gateway, []*gateway) {
	t.Helper()
	srv := etcdtest.Start(t)
	up := startUpstream(t)
	usersFile := writeUsers(t, users)
	return up, startReplicas(t, up, srv, n, func(c *app.Config) {
		c.ClientCAFile = ca.file
		c.NoLoopbackIdentity = true
		c.UsersFile = usersFile
	})
}

// TestPartitionIsolationAcrossReplicas runs the isolation table with every
// job started at replica A and every caller, the partitions by their
// certificates over mTLS, asking replica B.
func TestPartitionIsolationAcrossReplicas(t *testing.T) {
	ca := newCA(t, "partitions CA")
	const user, password = "operator", "Isolation-Passw0rd"
	up, rs := partitionReplicas(t, ca, map[string]string{user: password}, 2)
	isolationTable(t, isolationRun{start: rs[0], ask: rs[1], advance: up.clock.Advance, ca: ca, user: user, password: password})
}

// TestCompletionStreamIsolationAcrossReplicas follows the completion
// streams, over gRPC and SSE, at replica B, of jobs started at replica A.
func TestCompletionStreamIsolationAcrossReplicas(t *testing.T) {
	ca := newCA(t, "partitions CA")
	const user, password = "operator", "Completions-Passw0rd"
	up, rs := partitionReplicas(t, ca, map[string]string{user: password}, 2)
	completionIsolation(t, isolationRun{start: rs[0], ask: rs[1], advance: up.clock.Advance, ca: ca, user: user, password: password})
}

// TestStompAcrossReplicas: a user's STOMP subscriber at replica C gets
// exactly one completion MESSAGE for the job the user started at replica
// A, and the subscribers of a second user and of a partition at C get
// nothing of it: the first message each gets is that of its own later job.
func TestStompAcrossReplicas(t *testing.T) {
	ca := newCA(t, "partitions CA")
	const u1, p1, u2, p2 = "operator", "Stomp-Passw0rd-1", "other", "Stomp-Passw0rd-2"
	up, rs := partitionReplicas(t, ca, map[string]string{u1: p1, u2: p2}, 3)
	a, c := rs[0], rs[2]
	cert := ca.partitionCert(t, lp2)
	prest := a.restClient(t, cert)
	objs := a.discover(t, prest, nil)
	urest := a.restClient(t)
	type subscriber struct {
		name  string
		hdr   http.Header // what starts its jobs at A
		stomp *stompClient
	}
	// Each logs on at A and subscribes at C.
	user := func(name, password string) *subscriber {
		l := a.rest(t, urest, http.MethodPost, "/api/sessions", nil, `{"userid":"`+name+`","password":"`+password+`"}`)
		if l.status != http.StatusOK {
			t.Fatalf("logon %s at A: %d %s", name, l.status, l.body)
		}
		s := &subscriber{name: name, hdr: http.Header{"X-Api-Session": {jsonField(t, l.body, "api-session")}}, stomp: c.stompDial(t)}
		s.stomp.connect("login", jsonField(t, l.body, "api-session"), "passcode", jsonField(t, l.body, "session-credential"))
		s.stomp.subscribe("1", jsonField(t, l.body, "job-notification-topic"))
		return s
	}
	s1, s2 := user(u1, p1), user(u2, p2)
	sp := &subscriber{name: lp2, hdr: http.Header{"X-Api-Target-Name": {lp2}}, stomp: c.stompDial(t, cert)}
	sp.stomp.connect()
	sp.stomp.subscribe("p", "bcpii-gateway.partition."+lp2+".job")

	start := func(client *http.Client, s *subscriber, uri string) string {
		t.Helper()
		ans := a.rest(t, client, http.MethodPost, uri, s.hdr, "")
		return jobURIFromBody(t, ans)
	}
	job1 := start(urest, s1, objs["PART1"].uri+"/operations/start")
	up.clock.Advance(3 * time.Second)
	s1.stomp.Expect(stomp.CmdMessage, "job-uri", job1, "session-sequence-nr", "0")

	// The others' own jobs end after the first: their first message is
	// their own, so none had the first job's.
	job2 := start(urest, s2, objs["PART2"].uri+"/operations/stop")
	jobP := start(prest, sp, objs["LP2"].uri+"/operations/activate")
	up.clock.Advance(3 * time.Second)
	s2.stomp.Expect(stomp.CmdMessage, "job-uri", job2, "session-sequence-nr", "0")
	sp.stomp.Expect(stomp.CmdMessage, "job-uri", jobP, "session-sequence-nr", "0")
	// Nothing more for anyone: no second message of the first job either.
	for _, s := range []*subscriber{s1, s2, sp} {
		s.stomp.noMessage()
	}
}
