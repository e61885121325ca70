package upstream_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/tlsutil"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
)

// waitLimit bounds every wait in real time; reaching it fails the test.
const waitLimit = 30 * time.Second

// Object ids and target names of the simulated SE's built-in inventory,
// which the inventory file of the job shapes keeps.
const (
	cpc1ID  = "e199300c-0455-47d9-8c76-3ca3e6646afb"
	lp1ID   = "966349c5-ce85-48d4-b15d-c82d99835b98"
	lp2ID   = "732b5207-24d8-4994-81dc-c9f05bcd2917"
	lp3ID   = "ab648f14-bb53-4a8b-b2bd-7c224d5b4360"
	part1ID = "92191903-466e-4468-b537-135aa94c137c"
	part2ID = "a02f7db8-2d58-46ca-ae77-f3560647982d"

	cpc1  = "IBM390PS.CPC1"
	lp1   = "IBM390PS.CPC1.LP1"
	lp2   = "IBM390PS.CPC1.LP2"
	lp3   = "IBM390PS.CPC1.LP3"
	cpc2  = "IBM390PS.CPC2"
	part1 = "IBM390PS.CPC2.PART1"
	part2 = "IBM390PS.CPC2.PART2"
)

// The API users: gw is the downstream's user on the upstream, alice a
// user of the downstream.
const (
	gwUser, gwPassword       = "gw", "upstream: pass #1"
	aliceUser, alicePassword = "alice", "alice-password"
)

// node is a gateway run in-process by app.Run.
type node struct {
	cfg   app.Config
	addrs app.Addresses
	roots *x509.CertPool // trusts the certificate it generated
	fp    string         // that certificate's SHA-256 fingerprint
	stop  func(t testing.TB)
}

func runGateway(t testing.TB, cfg app.Config) *node {
	t.Helper()
	return runGatewayLog(t, cfg, slog.DiscardHandler)
}

// runGatewayLog runs a gateway that logs to h.
func runGatewayLog(t testing.TB, cfg app.Config, h slog.Handler) *node {
	t.Helper()
	listening := make(chan app.Addresses, 1)
	cfg.OnListening = func(a app.Addresses) { listening <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, slog.New(h)) }()
	var once sync.Once
	stop := func(t testing.TB) {
		once.Do(func() {
			cancel()
			returned, stop := context.WithTimeout(context.Background(), waitLimit)
			defer stop()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("app.Run: %v", err)
				}
			case <-returned.Done():
				t.Errorf("app.Run did not return within %v", waitLimit)
			}
		})
	}
	t.Cleanup(func() { stop(t) })
	n := &node{cfg: cfg, stop: stop}
	listened, stopListen := context.WithTimeout(context.Background(), waitLimit)
	defer stopListen()
	select {
	case n.addrs = <-listening:
	case err := <-done:
		t.Fatalf("app.Run returned before listening: %v", err)
	case <-listened.Done():
		t.Fatalf("app.Run did not listen within %v", waitLimit)
	}
	crt, roots := apptest.Certificate(t, cfg.DataDir)
	n.roots = roots
	block, _ := pem.Decode(crt)
	n.fp = tlsutil.FormatFingerprint(sha256.Sum256(block.Bytes))
	return n
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func usersFile(t testing.TB, users ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("users:\n")
	for i := 0; i+1 < len(users); i += 2 {
		h, err := bcrypt.GenerateFromPassword([]byte(users[i+1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    password-hash: %q\n", users[i], h)
	}
	return writeFile(t, "users.yaml", b.String())
}

// upstreamGW is the upstream: a gateway serving the simulated SE over
// HTTPS with the API user gw, on a fake clock, so the test decides when
// the SE's operations end. restart stops it and starts it again on the
// same data directory (bbolt) and port.
type upstreamGW struct {
	*node
	clock *clocktest.Fake
	cfg   app.Config
}

func startUpstream(t testing.TB, inventory string) *upstreamGW {
	t.Helper()
	fc := clocktest.NewFake(time.Now().UTC().Truncate(time.Second))
	cfg := app.Config{
		DataDir:   apptest.DataDir(t),
		GRPCAddr:  "127.0.0.1:0",
		RESTAddr:  "127.0.0.1:0",
		StompAddr: "127.0.0.1:0",
		UsersFile: usersFile(t, gwUser, gwPassword),
		Inventory: inventory,
		Clock:     fc,
	}
	u := &upstreamGW{node: runGateway(t, cfg), clock: fc, cfg: cfg}
	u.cfg.RESTAddr, u.cfg.StompAddr = u.addrs.REST, u.addrs.STOMP
	return u
}

func (u *upstreamGW) restart(t testing.TB) {
	t.Helper()
	u.node.stop(t)
	u.node = runGateway(t, u.cfg)
}

func (u *upstreamGW) url() string { return "https://" + u.addrs.REST }

// downstream starts a gateway with the hmc backend pointed at hmcURL,
// trusting it as trust says, with the API user alice of its own. It polls
// only, unless trust names the upstream's STOMP address.
func startDownstream(t testing.TB, hmcURL string, clk clock.Clock, poll time.Duration, trust func(*app.Config)) *node {
	t.Helper()
	return startDownstreamLog(t, hmcURL, clk, poll, trust, slog.DiscardHandler)
}

func startDownstreamLog(t testing.TB, hmcURL string, clk clock.Clock, poll time.Duration, trust func(*app.Config), h slog.Handler) *node {
	t.Helper()
	cfg := app.Config{
		DataDir:            apptest.DataDir(t),
		GRPCAddr:           "127.0.0.1:0",
		RESTAddr:           "127.0.0.1:0",
		StompAddr:          "127.0.0.1:0",
		UsersFile:          usersFile(t, aliceUser, alicePassword),
		Backend:            app.BackendHMC,
		HMCURL:             hmcURL,
		HMCCredentialsFile: writeFile(t, "hmc-credentials", "# the downstream's user on the upstream\nuserid: "+gwUser+"\npassword: "+gwPassword+"\n"),
		HMCPollInterval:    poll,
		HMCStompAddr:       "-",
		Clock:              clk,
	}
	trust(&cfg)
	return runGatewayLog(t, cfg, h)
}

// grpcClient is a gRPC client of a gateway over TLS from loopback: the
// gateway's local partition, IBM390PS.CPC1.LP1, unless a session is added
// to the context.
type grpcClient struct {
	ops      bcpiiv1.OperationServiceClient
	jobs     bcpiiv1.JobServiceClient
	sessions bcpiiv1.SessionServiceClient
}

func (n *node) grpc(t testing.TB) *grpcClient {
	t.Helper()
	// Every call is bounded by waitLimit: none can hang the test.
	opts := append(apptest.CallLimit(waitLimit), grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: n.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12})))
	conn, err := grpc.NewClient(n.addrs.GRPC, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &grpcClient{bcpiiv1.NewOperationServiceClient(conn), bcpiiv1.NewJobServiceClient(conn), bcpiiv1.NewSessionServiceClient(conn)}
}

// logon opens a session over gRPC and returns a context that presents it.
func (c *grpcClient) logon(t testing.TB, ctx context.Context, user, password string) context.Context {
	t.Helper()
	r, err := c.sessions.Logon(ctx, &bcpiiv1.LogonRequest{Userid: user, Password: password})
	if err != nil {
		t.Fatalf("Logon %s: %v", user, err)
	}
	return metadata.AppendToOutgoingContext(ctx, rpctypes.SessionKey, r.ApiSession)
}

func withTarget(ctx context.Context, target string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, rpctypes.TargetKey, target)
}

func (c *grpcClient) invoke(t testing.TB, ctx context.Context, method, uri, target, body string) *bcpiiv1.InvokeResponse {
	t.Helper()
	r, err := c.ops.Invoke(ctx, &bcpiiv1.InvokeRequest{Method: method, Uri: uri, TargetName: target, Body: body})
	if err != nil {
		t.Fatalf("Invoke %s %s: %v", method, uri, err)
	}
	return r
}

// start starts an operation and returns the local job id.
func (c *grpcClient) start(t testing.TB, ctx context.Context, uri, target, body string) string {
	t.Helper()
	r := c.invoke(t, ctx, "POST", uri, target, body)
	id, ok := strings.CutPrefix(r.JobUri, "/api/jobs/")
	if r.HttpStatus != 202 || !ok || r.Body != `{"job-uri":"`+r.JobUri+`"}` {
		t.Fatalf("POST %s answered %d %s", uri, r.HttpStatus, r.Body)
	}
	return id
}

func (c *grpcClient) wait(t testing.TB, ctx context.Context, id string) *bcpiiv1.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	r, err := c.jobs.WaitJob(ctx, &bcpiiv1.WaitJobRequest{JobId: id, Timeout: durationpb.New(10 * time.Minute)})
	if err != nil || r.TimedOut {
		t.Fatalf("WaitJob %s: %v %v", id, r, err)
	}
	return r.Job
}

func wantStatus(t testing.TB, err error, code codes.Code, httpStatus, reason int32) {
	t.Helper()
	d, ok := rpctypes.HMCDetail(err)
	if status.Code(err) != code || !ok || d.HttpStatus != httpStatus || d.Reason != reason {
		t.Fatalf("error %v (detail %v), want %v with %d.%d", err, d, code, httpStatus, reason)
	}
}

// restClient speaks HTTP/1.1 to a gateway's REST port.
type restClient struct {
	base string
	http *http.Client
}

func (n *node) rest(t testing.TB) *restClient {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: n.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &restClient{base: "https://" + n.addrs.REST, http: &http.Client{Transport: tr, Timeout: waitLimit}}
}

// do sends a request with headers (name, value pairs) and returns the
// status and body.
func (c *restClient) do(t testing.TB, method, path, body string, headers ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (c *restClient) logon(t testing.TB, user, password string) string {
	t.Helper()
	code, body := c.do(t, "POST", "/api/sessions", fmt.Sprintf(`{"userid":%q,"password":%q}`, user, password))
	var r struct {
		Session string `json:"api-session"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil || r.Session == "" {
		t.Fatalf("logon %s: %d %s", user, code, body)
	}
	return r.Session
}

func wantREST(t testing.TB, what string, code int, body string, wantCode int, wantBody string) {
	t.Helper()
	if code != wantCode || body != wantBody {
		t.Fatalf("%s: %d %s\nwant %d %s", what, code, body, wantCode, wantBody)
	}
}

// upstreamView looks at the upstream's jobs as gw, over gRPC.
type upstreamView struct {
	c       *grpcClient
	session string // gw's session on the upstream
}

func (u *upstreamGW) view(t testing.TB) *upstreamView {
	t.Helper()
	c := u.grpc(t)
	r, err := c.sessions.Logon(context.Background(), &bcpiiv1.LogonRequest{Userid: gwUser, Password: gwPassword})
	if err != nil {
		t.Fatalf("Logon %s: %v", gwUser, err)
	}
	return &upstreamView{c: c, session: r.ApiSession}
}

// ctx is a context that presents gw's session.
func (v *upstreamView) ctx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), rpctypes.SessionKey, v.session)
}

// newest is the id of gw's newest job on the upstream.
func (v *upstreamView) newest(t testing.TB) string {
	t.Helper()
	r, err := v.c.jobs.ListJobs(v.ctx(), &bcpiiv1.ListJobsRequest{PageSize: 1000})
	if err != nil || len(r.Jobs) == 0 {
		t.Fatalf("ListJobs on the upstream: %v %v", r, err)
	}
	return r.Jobs[len(r.Jobs)-1].JobId
}

// watchUntil waits until the upstream job's status is st.
func (v *upstreamView) watchUntil(t testing.TB, id string, st bcpiiv1.JobStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(v.ctx(), waitLimit)
	defer cancel()
	s, err := v.c.jobs.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("upstream job %s never became %v: %v", id, st, err)
		}
		if r.Job.Status == st {
			return
		}
	}
}

// countingProxy stands between the downstream and the upstream like the
// network: it counts the requests that pass, and can be cut. It has a
// certificate of its own, which the downstream pins by fingerprint.
type countingProxy struct {
	srv *httptest.Server
	fp  string
	cut atomic.Bool

	mu      sync.Mutex
	log     []string
	changed chan struct{}
}

func newProxy(t testing.TB, u *upstreamGW) *countingProxy {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: u.roots, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: "https", Host: u.cfg.RESTAddr}) },
		Transport: tr,
		// An unreachable upstream looks to the downstream like a cut
		// connection, not like a proxy's answer.
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) },
		ErrorLog:     nopLog,
	}
	p := &countingProxy{changed: make(chan struct{})}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.log = append(p.log, r.Method+" "+r.URL.Path)
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		if p.cut.Load() {
			panic(http.ErrAbortHandler)
		}
		rp.ServeHTTP(w, r)
	}))
	p.srv.Config.ErrorLog = nopLog
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.fp = tlsutil.FormatFingerprint(sha256.Sum256(p.srv.Certificate().Raw))
	return p
}

var nopLog = log.New(io.Discard, "", 0)

func (p *countingProxy) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.log {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (p *countingProxy) waitCount(t testing.TB, prefix string, n int) {
	t.Helper()
	timeout, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if p.count(prefix) >= n {
			return
		}
		select {
		case <-ch:
		case <-timeout.Done():
			t.Fatalf("waited %v for %d requests %q through the proxy; saw %d", waitLimit, n, prefix, p.count(prefix))
		}
	}
}

// setCut cuts the network or restores it; cutting also drops the
// connections open now.
func (p *countingProxy) setCut(cut bool) {
	p.cut.Store(cut)
	if cut {
		p.srv.CloseClientConnections()
	}
}

// timeoutChan closes waitLimit of real time from now.
func timeoutChan(t testing.TB) <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx.Done()
}

// The whole path, on real listeners and real TLS: a downstream gateway
// with the hmc backend serves the upstream gateway's simulated SE over
// gRPC and REST. It lists, starts operations, follows their jobs to the
// end, cancels, deletes, and follows a job across a restart of the
// upstream. The downstream trusts the upstream's generated certificate as
// its CA file, follows its job notifications and polls every 50ms of real
// time while they are not live.
func TestEndToEnd(t *testing.T) {
	up := startUpstream(t, "")
	down := startDownstream(t, up.url(), nil, 50*time.Millisecond, func(c *app.Config) {
		c.HMCCAFile = filepath.Join(up.cfg.DataDir, "tls", "gateway.crt")
		c.HMCStompAddr = up.addrs.STOMP
	})
	ctx := context.Background()
	g := down.grpc(t)
	rest := down.rest(t)
	upREST := up.rest(t)
	upSession := upREST.logon(t, gwUser, gwPassword)

	// List CPCs passes the upstream's answer through, over gRPC and REST.
	_, upCPCs := upREST.do(t, "GET", "/api/cpcs", "", "X-API-Session", upSession)
	r := g.invoke(t, ctx, "GET", "/api/cpcs", "", "")
	if r.HttpStatus != 200 || r.Body != upCPCs || !strings.Contains(r.Body, `"target-name":"IBM390PS.CPC2"`) {
		t.Fatalf("GET /api/cpcs over gRPC: %d %s, upstream %s", r.HttpStatus, r.Body, upCPCs)
	}
	aliceSession := rest.logon(t, aliceUser, alicePassword)
	code, body := rest.do(t, "GET", "/api/cpcs", "", "X-API-Session", aliceSession)
	wantREST(t, "GET /api/cpcs over REST", code, body, 200, upCPCs)

	// The LPARs of CPC1, named by the upstream's target names.
	lpars := "/api/cpcs/" + cpc1ID + "/logical-partitions"
	r = g.invoke(t, ctx, "GET", lpars, cpc1, "")
	for _, want := range []string{lp1, lp2, lp3} {
		if !strings.Contains(r.Body, `"target-name":"`+want+`"`) {
			t.Fatalf("LPAR list lacks %s: %s", want, r.Body)
		}
	}
	code, body = rest.do(t, "GET", lpars+"?name=LP2", "", "X-API-Target-Name", cpc1)
	if code != 200 || !strings.Contains(body, lp2) || strings.Contains(body, lp1) {
		t.Fatalf("LPAR list over REST: %d %s", code, body)
	}
	_, err := g.ops.Invoke(ctx, &bcpiiv1.InvokeRequest{Method: "GET", Uri: lpars, TargetName: cpc2})
	wantStatus(t, err, codes.InvalidArgument, 400, 2)

	// An activate followed to completion over gRPC.
	act := g.start(t, ctx, "/api/logical-partitions/"+lp2ID+"/operations/activate", lp2, "")
	code, body = rest.do(t, "GET", "/api/jobs/"+act, "", "X-API-Target-Name", lp2)
	wantREST(t, "running activate", code, body, 200, `{"status":"running"}`)
	if code, _ := upREST.do(t, "GET", "/api/jobs/"+act, "", "X-API-Session", upSession); code != 404 {
		t.Fatal("the local job id is the upstream's")
	}
	up.clock.Advance(3 * time.Second)
	j := g.wait(t, withTarget(ctx, lp2), act)
	want := &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(200),
		JobResults: proto.String(`{"message":"Logical partition LP2 activated."}`)}
	if !proto.Equal(j, want) {
		t.Fatalf("activate ended %v, want %v", j, want)
	}

	// A partition stop by an API user, followed over REST.
	code, body = rest.do(t, "POST", "/api/partitions/"+part2ID+"/operations/stop", "", "X-API-Session", aliceSession)
	var accepted struct {
		JobURI string `json:"job-uri"`
	}
	if code != 202 || json.Unmarshal([]byte(body), &accepted) != nil {
		t.Fatalf("partition stop: %d %s", code, body)
	}
	up.clock.Advance(3 * time.Second)
	stop := strings.TrimPrefix(accepted.JobURI, "/api/jobs/")
	g.wait(t, g.logon(t, ctx, aliceUser, alicePassword), stop)
	code, body = rest.do(t, "GET", accepted.JobURI, "", "X-API-Session", aliceSession)
	wantREST(t, "ended partition stop", code, body, 200, `{"job-status-code":204,"status":"complete"}`)

	// Cancel of a partition start, forwarded upstream; the job ends
	// canceled as the upstream reports.
	start := g.start(t, ctx, "/api/partitions/"+part1ID+"/operations/start", part1, "")
	code, body = rest.do(t, "POST", "/api/jobs/"+start+"/operations/cancel", "", "X-API-Target-Name", part1)
	wantREST(t, "cancel", code, body, 202, "")
	j = g.wait(t, withTarget(ctx, part1), start)
	want = &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_CANCELED, JobStatusCode: proto.Int32(409), JobReasonCode: proto.Int32(0),
		JobResults: proto.String(`{"message":"The operation was canceled; the partition PART1 was left as it was."}`)}
	if !proto.Equal(j, want) {
		t.Fatalf("canceled start ended %v, want %v", j, want)
	}
	code, body = rest.do(t, "POST", "/api/jobs/"+start+"/operations/cancel", "", "X-API-Target-Name", part1)
	if code != 409 || !strings.Contains(body, `"reason":41`) {
		t.Fatalf("second cancel: %d %s", code, body)
	}
	// A not cancelable one is refused locally. (Without force, the load
	// of an operating LPAR ends 409.1; it is a job all the same.)
	load := g.start(t, ctx, "/api/logical-partitions/"+lp1ID+"/operations/load", lp1, "")
	_, err = g.jobs.CancelJob(withTarget(ctx, lp1), &bcpiiv1.CancelJobRequest{JobId: load})
	wantStatus(t, err, codes.FailedPrecondition, 404, 4)
	up.clock.Advance(3 * time.Second)
	g.wait(t, withTarget(ctx, lp1), load)

	// Delete, over REST and gRPC.
	code, body = rest.do(t, "DELETE", "/api/jobs/"+act, "", "X-API-Target-Name", lp2)
	wantREST(t, "delete", code, body, 204, "")
	code, _ = rest.do(t, "GET", "/api/jobs/"+act, "", "X-API-Target-Name", lp2)
	if code != 404 {
		t.Fatalf("deleted job answers %d", code)
	}
	if _, err := g.jobs.DeleteJob(withTarget(ctx, part1), &bcpiiv1.DeleteJobRequest{JobId: start}); err != nil {
		t.Fatal(err)
	}
	_, err = g.jobs.GetJob(withTarget(ctx, part1), &bcpiiv1.GetJobRequest{JobId: start})
	wantStatus(t, err, codes.NotFound, 404, 1)

	// The downstream deleted every ended job's status upstream.
	v := up.view(t)
	if r, err := v.c.jobs.ListJobs(v.ctx(), &bcpiiv1.ListJobsRequest{}); err != nil || len(r.Jobs) != 0 {
		t.Fatalf("upstream jobs left: %v %v", r, err)
	}

	// A restart of the upstream while a job runs. Its bbolt store keeps
	// the job, which the simulated SE ended when it stopped (503.1); the
	// downstream logs on again and follows the job to that end.
	deact := g.start(t, ctx, "/api/logical-partitions/"+lp3ID+"/operations/deactivate", lp3, "")
	upJob := v.newest(t)
	up.restart(t)
	code, body = up.rest(t).do(t, "GET", "/api/jobs/"+upJob, "", "X-API-Session", up.rest(t).logon(t, gwUser, gwPassword))
	stopped := `{"job-reason-code":1,"job-results":{"message":"The simulated Support Element stopped before the operation ended; the logical partition LP3 was left as it was."},"job-status-code":503,"status":"complete"}`
	if code != 200 || body != stopped {
		// The downstream may have deleted it already; then it is gone.
		if code != 404 {
			t.Fatalf("upstream job after the restart: %d %s", code, body)
		}
	}
	g.wait(t, withTarget(ctx, lp3), deact)
	code, body = rest.do(t, "GET", "/api/jobs/"+deact, "", "X-API-Target-Name", lp3)
	wantREST(t, "job across the restart", code, body, 200, stopped)
	// And the restarted upstream serves new operations.
	again := g.start(t, ctx, "/api/logical-partitions/"+lp3ID+"/operations/deactivate", lp3, "")
	up.clock.Advance(3 * time.Second)
	if j := g.wait(t, withTarget(ctx, lp3), again); j.GetJobStatusCode() != 200 {
		t.Fatalf("deactivate after the restart ended %v", j)
	}
}

// A restarted downstream follows again the jobs it followed before: they
// are running in its bbolt store and listed in its state file. Here the
// upstream jobs end while the downstream is away.
func TestDownstreamRestart(t *testing.T) {
	up := startUpstream(t, "")
	down := startDownstream(t, up.url(), nil, 50*time.Millisecond, func(c *app.Config) { c.HMCFingerprint = up.fp })
	ctx := context.Background()
	g := down.grpc(t)
	act := g.start(t, ctx, "/api/logical-partitions/"+lp2ID+"/operations/activate", lp2, "")
	start := g.start(t, ctx, "/api/partitions/"+part1ID+"/operations/start", part1, "")
	down.stop(t)

	v := up.view(t)
	r, err := v.c.jobs.ListJobs(v.ctx(), &bcpiiv1.ListJobsRequest{})
	if err != nil || len(r.Jobs) != 2 {
		t.Fatalf("upstream jobs: %v %v", r, err)
	}
	up.clock.Advance(3 * time.Second)
	for _, j := range r.Jobs {
		v.watchUntil(t, j.JobId, bcpiiv1.JobStatus_JOB_STATUS_COMPLETE)
	}

	down = runGateway(t, down.cfg)
	g = down.grpc(t)
	want := &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(200),
		JobResults: proto.String(`{"message":"Logical partition LP2 activated."}`)}
	if j := g.wait(t, withTarget(ctx, lp2), act); !proto.Equal(j, want) {
		t.Fatalf("activate ended %v, want %v", j, want)
	}
	want = &bcpiiv1.Job{Status: bcpiiv1.JobStatus_JOB_STATUS_COMPLETE, JobStatusCode: proto.Int32(204)}
	if j := g.wait(t, withTarget(ctx, part1), start); !proto.Equal(j, want) {
		t.Fatalf("partition start ended %v, want %v", j, want)
	}
}
