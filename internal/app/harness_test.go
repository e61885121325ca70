package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/app"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Target names of the simulated SE's default inventory.
const (
	cpc1  = "IBM390PS.CPC1"
	lp1   = "IBM390PS.CPC1.LP1"
	lp2   = "IBM390PS.CPC1.LP2"
	lp3   = "IBM390PS.CPC1.LP3"
	cpc2  = "IBM390PS.CPC2"
	part1 = "IBM390PS.CPC2.PART1"
	part2 = "IBM390PS.CPC2.PART2"
)

// waitLimit bounds every wait for the gateway in real time; reaching it
// fails the test instead of hanging it.
const waitLimit = 30 * time.Second

// within asks f every 10 ms until it holds or limit has passed, and
// reports whether it held: a bounded wait for what another goroutine of
// the gateway does in real time.
func within(limit time.Duration, f func() bool) bool {
	for deadline := time.Now().Add(limit); !f(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// gateway is app.Run running in-process on loopback ports chosen by the
// system, on a fake clock.
type gateway struct {
	cfg   app.Config
	addrs app.Addresses
	clock *clocktest.Fake
	// roots trusts the certificate the gateway generated into its data
	// directory, and nothing else.
	roots *x509.CertPool
	stop  func(t *testing.T)
}

// startGateway runs app.Run with cfg as changed by opts and returns once it
// listens. t.Cleanup stops it and fails the test if Run fails or does not
// return.
func startGateway(t *testing.T, log *slog.Logger, opts ...func(*app.Config)) *gateway {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fc := clocktest.NewFake(time.Now().UTC().Truncate(time.Second))
	listening := make(chan app.Addresses, 1)
	cfg := app.Config{
		DataDir:     apptest.DataDir(t),
		GRPCAddr:    "127.0.0.1:0",
		RESTAddr:    "127.0.0.1:0",
		StompAddr:   "127.0.0.1:0",
		Store:       app.StoreMemory,
		Clock:       fc,
		OnListening: func(a app.Addresses) { listening <- a },
	}
	for _, o := range opts {
		o(&cfg)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, log) }()
	var once sync.Once
	stop := func(t *testing.T) {
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
				t.Errorf("app.Run did not return within %v of its context ending", waitLimit)
			}
		})
	}
	t.Cleanup(func() { stop(t) })

	g := &gateway{cfg: cfg, clock: fc, stop: stop}
	listened, stopListen := context.WithTimeout(context.Background(), waitLimit)
	defer stopListen()
	select {
	case g.addrs = <-listening:
	case err := <-done:
		t.Fatalf("app.Run returned before listening: %v", err)
	case <-listened.Done():
		t.Fatalf("app.Run did not listen within %v", waitLimit)
	}
	_, g.roots = apptest.Certificate(t, cfg.DataDir)
	return g
}

func (g *gateway) tlsConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: g.roots, Certificates: certs, MinVersion: tls.VersionTLS12}
}

// insisting is a TLS configuration that presents cert whatever CAs the
// server asks for, as curl or openssl do. A Go client given Certificates
// leaves out one that chains to none of them.
func (g *gateway) insisting(cert tls.Certificate) *tls.Config {
	tc := g.tlsConfig()
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return tc
}

// grpcConn dials the gateway's gRPC port over TLS, presenting certs.
func (g *gateway) grpcConn(t *testing.T, certs ...tls.Certificate) *grpc.ClientConn {
	t.Helper()
	return g.grpcConnTLS(t, g.tlsConfig(certs...))
}

func (g *gateway) grpcConnTLS(t *testing.T, tc *tls.Config) *grpc.ClientConn {
	t.Helper()
	// Every call is bounded by waitLimit: none can hang the test.
	conn, err := grpc.NewClient(g.addrs.GRPC, append(apptest.CallLimit(waitLimit), grpc.WithTransportCredentials(credentials.NewTLS(tc)))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// socketConn dials the gateway's Unix socket.
func (g *gateway) socketConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	if g.addrs.Socket == "" {
		t.Fatal("the gateway has no Unix socket")
	}
	conn, err := grpc.NewClient("unix://"+g.addrs.Socket, append(apptest.CallLimit(waitLimit), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// restClient is a net/http client of the gateway's REST port, presenting
// certs.
func (g *gateway) restClient(t *testing.T, certs ...tls.Certificate) *http.Client {
	t.Helper()
	return g.restClientTLS(t, g.tlsConfig(certs...))
}

func (g *gateway) restClientTLS(t *testing.T, tc *tls.Config) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: tc}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitLimit}
}

func (g *gateway) url(path string) string { return "https://" + g.addrs.REST + path }

// answer is a REST answer, read to its end.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// rest sends one request. hdr values replace the headers of the same name;
// a nil slice in hdr leaves the header out.
func (g *gateway) rest(t *testing.T, c *http.Client, method, path string, hdr http.Header, body string) answer {
	t.Helper()
	a, err := g.tryREST(c, method, path, hdr, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func (g *gateway) tryREST(c *http.Client, method, path string, hdr http.Header, body string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.url(path), rd)
	if err != nil {
		return answer{}, err
	}
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// hmcError is an HMC error body.
type hmcError struct {
	BCPiiError      *bool               `json:"bcpii-error"`
	HTTPStatus      int                 `json:"http-status"`
	Message         string              `json:"message"`
	Reason          int                 `json:"reason"`
	AuthenticatedAs *string             `json:"request-authenticated-as"`
	Method          string              `json:"request-method"`
	QueryParms      []map[string]string `json:"request-query-parms"`
	URI             string              `json:"request-uri"`
}

// wantRESTError checks that a is the HMC error status.reason and returns
// its body.
func wantRESTError(t *testing.T, a answer, httpStatus, reason int) hmcError {
	t.Helper()
	if a.status != httpStatus {
		t.Fatalf("answer %d %s, want %d.%d", a.status, a.body, httpStatus, reason)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json;charset=UTF-8" {
		t.Errorf("error Content-Type %q", ct)
	}
	var e hmcError
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", a.body, err)
	}
	if e.HTTPStatus != httpStatus || e.Reason != reason {
		t.Fatalf("error body %s, want %d.%d", a.body, httpStatus, reason)
	}
	if e.QueryParms == nil || e.Method == "" || e.URI == "" || e.Message == "" {
		t.Errorf("error body %s lacks a field", a.body)
	}
	return e
}

// wantBCPiiError checks the fields an error over the BCPii interface has:
// who asked, and that the gateway raised it.
func wantBCPiiError(t *testing.T, e hmcError, partition string) {
	t.Helper()
	if e.AuthenticatedAs == nil || *e.AuthenticatedAs != partition {
		t.Errorf("request-authenticated-as %v, want %s", e.AuthenticatedAs, partition)
	}
	if e.BCPiiError == nil || !*e.BCPiiError {
		t.Errorf("bcpii-error %v, want true", e.BCPiiError)
	}
}

// wantGRPCError checks that err is a status with code and an HMC detail
// status.reason, and returns the detail.
func wantGRPCError(t *testing.T, err error, code codes.Code, httpStatus, reason int32) *bcpiiv1.HmcError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v %d.%d", code, httpStatus, reason)
	}
	if got := status.Code(err); got != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
	d, ok := rpctypes.HMCDetail(err)
	if !ok {
		t.Fatalf("error %v has no HMC detail", err)
	}
	if d.GetHttpStatus() != httpStatus || d.GetReason() != reason {
		t.Fatalf("error %v has detail %d.%d, want %d.%d", err, d.GetHttpStatus(), d.GetReason(), httpStatus, reason)
	}
	return d
}

// withMD returns a context, bounded by waitLimit, carrying the metadata
// pairs (key, value, ...); pairs with an empty key are left out.
func withMD(t *testing.T, pairs ...string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	md := metadata.MD{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] != "" {
			md.Append(pairs[i], pairs[i+1])
		}
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// testCA is a certificate authority for client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

var serial struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// issue makes a client certificate with the URI names uris.
func (ca *testCA) issue(t *testing.T, uris ...*url.URL) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: "partition program"},
		URIs:         uris,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// partitionCert is a certificate from ca naming the partition target.
func (ca *testCA) partitionCert(t *testing.T, target string) tls.Certificate {
	t.Helper()
	return ca.issue(t, bcpii.PartitionURI(mustTarget(t, target)))
}

func mustTarget(t *testing.T, s string) bcpii.TargetName {
	t.Helper()
	tn, err := bcpii.ParseTargetName(s)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// writeUsers writes a users file of name→password at bcrypt's lowest
// cost and returns its path.
func writeUsers(t *testing.T, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("users:\n")
	for name, pw := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("  - name: " + name + "\n    password-hash: \"" + string(h) + "\"\n")
	}
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// object is one object of the SE's inventory as its listings show it.
type object struct {
	uri, target string
}

// discover lists the inventory over REST through c, as a partition would:
// List CPCs without X-API-Target-Name, each CPC's lists naming the CPC.
// hdr is added to every request (a session, say).
func (g *gateway) discover(t *testing.T, c *http.Client, hdr http.Header) map[string]object {
	t.Helper()
	type item struct {
		URI    string `json:"object-uri"`
		Name   string `json:"name"`
		Target string `json:"target-name"`
	}
	get := func(path string, h http.Header, into any) {
		t.Helper()
		a := g.rest(t, c, http.MethodGet, path, h, "")
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, a.status, a.body)
		}
		if err := json.Unmarshal(a.body, into); err != nil {
			t.Fatalf("GET %s: %s: %v", path, a.body, err)
		}
	}
	var cpcs struct{ CPCs []item }
	get("/api/cpcs", hdr, &cpcs)
	objs := map[string]object{}
	for _, cpc := range cpcs.CPCs {
		objs[cpc.Name] = object{uri: cpc.URI, target: cpc.Target}
		h := hdr.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("X-API-Target-Name", cpc.Target)
		for _, kind := range []string{"logical-partitions", "partitions"} {
			var list map[string][]item
			get(cpc.URI+"/"+kind, h, &list)
			for _, it := range list[kind] {
				objs[it.Name] = object{uri: it.URI, target: it.Target}
			}
		}
	}
	for _, name := range []string{"CPC1", "LP1", "LP2", "LP3", "CPC2", "PART1", "PART2"} {
		if objs[name].uri == "" {
			t.Fatalf("the inventory lists no %s: %v", name, objs)
		}
	}
	return objs
}

// jobIDFromURI returns the id of the job-uri /api/jobs/{id}.
func jobIDFromURI(t *testing.T, uri string) string {
	t.Helper()
	id, ok := strings.CutPrefix(uri, "/api/jobs/")
	if !ok || len(id) != 36 {
		t.Fatalf("job-uri %q", uri)
	}
	return id
}

// jobURIFromBody reads the job-uri of a 202 answer.
func jobURIFromBody(t *testing.T, a answer) string {
	t.Helper()
	if a.status != http.StatusAccepted {
		t.Fatalf("answer %d %s, want 202", a.status, a.body)
	}
	var v struct {
		JobURI string `json:"job-uri"`
	}
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("202 body %s: %v", a.body, err)
	}
	return v.JobURI
}

// listJobs walks every page of the caller's ListJobs, one job a page, and
// returns the ids.
func listJobs(t *testing.T, ctx context.Context, c bcpiiv1.JobServiceClient) []string {
	t.Helper()
	var ids []string
	token := ""
	for range 100 {
		resp, err := c.ListJobs(ctx, &bcpiiv1.ListJobsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatalf("ListJobs: %v", err)
		}
		for _, e := range resp.GetJobs() {
			ids = append(ids, e.GetJobId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			return ids
		}
	}
	t.Fatal("ListJobs gave more than 100 pages")
	return nil
}

// watchFirst opens WatchJob and returns its first message or error.
func watchFirst(ctx context.Context, c bcpiiv1.JobServiceClient, id string) (*bcpiiv1.WatchJobResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.WatchJob(ctx, &bcpiiv1.WatchJobRequest{JobId: id})
	if err != nil {
		return nil, err
	}
	return s.Recv()
}

// jsonField returns the string field name of a JSON object.
func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	s, ok := m[name].(string)
	if !ok {
		t.Fatalf("%s has no string %q", body, name)
	}
	return s
}
