package gateway_test

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"golang.org/x/crypto/bcrypt"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/gateway"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/gen/openapiv2"
	"github.com/bcpii-gateway/bcpii-gateway/internal/apptest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

const (
	partA = "IBM390PS.CPC1.LP1"
	partB = "IBM390PS.CPC1.LP2"
)

var (
	ownerA    = jobs.Owner{Kind: jobs.PartitionOwner, Name: partA}
	ownerB    = jobs.Owner{Kind: jobs.PartitionOwner, Name: partB}
	userAlice = jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	epoch     = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
)

// stack is the whole REST path as the gateway runs it: an HTTPS server on
// a real loopback listener, the REST gateway, a gRPC connection to the
// internal server, the registry. A second, external gRPC server on a real
// TCP listener serves the same registry for comparison.
type stack struct {
	reg      *jobs.Registry
	store    jobs.Store
	clock    *clocktest.Fake
	handler  *gateway.Gateway
	https    *httptest.Server
	grpcConn *grpc.ClientConn
	grpc     bcpiiv1.JobServiceClient
	auth     *bcpii.Authenticator
}

func newStack(t testing.TB) *stack { return cleanedUp(t, inProcess) }

// How the REST gateway of a stack reaches its gRPC server.
const (
	inProcess = ""     // server.Server.InProcess, as the gateway runs
	overTCP   = "tcp"  // a stock gRPC connection over loopback TCP
	overUnix  = "unix" // a stock gRPC connection over a Unix socket
)

// forEachStack runs test against a gateway that reaches its gRPC server
// in-process and against one that reaches it over a connection.
func forEachStack(t *testing.T, test func(t *testing.T, s *stack)) {
	for _, over := range []string{inProcess, overTCP} {
		name := "in-process"
		if over != inProcess {
			name = "connection"
		}
		t.Run(name, func(t *testing.T) { test(t, cleanedUp(t, over)) })
	}
}

// cleanedUp is a stack torn down when t ends.
func cleanedUp(t testing.TB, over string) *stack {
	t.Helper()
	s, teardown := buildStack(t, over)
	t.Cleanup(teardown)
	return s
}

// buildStack builds a stack and returns it with its teardown.
func buildStack(t testing.TB, over string) (*stack, func()) {
	t.Helper()
	var closeConn func() error
	fc := clocktest.NewFake(epoch)
	st := memstore.New()
	reg, err := jobs.New(jobs.Config{Store: st, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	var served []chan error
	serve := func(srv *server.Server, lis net.Listener) {
		ch := make(chan error, 1)
		served = append(served, ch)
		go func() { ch <- srv.Serve(ctx, lis) }()
	}
	// dial serves srv on a loopback port and connects to it.
	dial := func(srv *server.Server, opts ...grpc.DialOption) *grpc.ClientConn {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		serve(srv, lis)
		cc, err := grpc.NewClient(lis.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}

	auth := testAuthenticator(t, fc)
	srv, err := server.New(server.Config{Registry: reg, Authenticator: auth, Loopback: true, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	var conn grpc.ClientConnInterface = srv.InProcess()
	switch over {
	case overTCP:
		// Over a connection the server judges the gateway's connection,
		// loopback: the local partition, or the session it forwards.
		cc := dial(srv)
		closeConn, conn = cc.Close, cc
	case overUnix:
		dir, err := os.MkdirTemp("", "gw") // short: a socket path has a small limit
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		lis, err := net.Listen("unix", filepath.Join(dir, "s"))
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan error, 1)
		served = append(served, ch)
		go func() { ch <- srv.ServeLocal(ctx, lis) }()
		// Several connections, as the server carries at most 2,048 streams
		// on one, and the fan-out benchmark opens 5,000 event streams.
		var sp spread
		for range 8 {
			cc, err := grpc.NewClient("unix://"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			sp.conns = append(sp.conns, cc)
		}
		closeConn, conn = sp.Close, &sp
	}
	gw, err := gateway.New(gateway.Config{Conn: conn, Authenticator: auth, Loopback: true, OpenAPI: openapiv2.JSON, Logger: logger, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(gw)
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	hs.StartTLS()
	// Bounds every request of a test, its body included, so that an
	// answer that never comes fails the test.
	hs.Client().Timeout = time.Minute

	// The test's own client: none of its calls can hang a test.
	gconn := dial(srv, apptest.CallLimit(time.Minute)...)
	teardown := func() {
		gw.Close() // event streams hold their connections themselves
		hs.Close()
		gconn.Close()
		srv.Stop()
		cancel()
		for _, ch := range served {
			if err := <-ch; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
		if closeConn != nil {
			closeConn()
		}
		reg.Close()
	}
	return &stack{reg: reg, store: st, clock: fc, handler: gw, https: hs, grpcConn: gconn, grpc: bcpiiv1.NewJobServiceClient(gconn), auth: auth}, teardown
}

// testPassword is the password of the API user "alice" in every stack.
const testPassword = "correct horse battery staple"

// testUsers is the users file of every stack: alice, with testPassword.
func testUsers(t testing.TB) *bcpii.Users {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := bcpii.ParseUsers([]byte("users:\n  - name: alice\n    password-hash: \"" + string(hash) + "\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return users
}

func testAuthenticator(t testing.TB, fc *clocktest.Fake) *bcpii.Authenticator {
	t.Helper()
	users := testUsers(t)
	tn, err := bcpii.ParseTargetName(partA)
	if err != nil {
		t.Fatal(err)
	}
	local, err := bcpii.PartitionPrincipal(tn)
	if err != nil {
		t.Fatal(err)
	}
	return &bcpii.Authenticator{Local: local, Sessions: bcpii.NewSessionsIn(users, fc, 0, nil)}
}

// client is a plain net/http client that verifies the server's certificate.
func (s *stack) client() *http.Client { return s.https.Client() }

// job makes a job in a named state, the way a backend would, and returns
// its id.
func (s *stack) job(t testing.TB, owner jobs.Owner, state string) string {
	t.Helper()
	ctx := context.Background()
	j, err := s.reg.Create(ctx, jobs.Spec{Owner: owner, Operation: "test", Cancelable: state != "uncancelable"})
	if err != nil {
		t.Fatal(err)
	}
	finish := func(res jobs.Result) {
		t.Helper()
		if _, err := s.reg.Finish(ctx, j.ID, res); err != nil {
			t.Fatal(err)
		}
	}
	cancel := func() {
		t.Helper()
		if _, err := s.reg.Cancel(ctx, jobs.Caller{Owner: owner}, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	switch state {
	case "running", "uncancelable":
	case "cancel-pending":
		cancel()
	case "complete-200":
		finish(jobs.Result{Status: jobs.Complete, StatusCode: 200})
	case "complete-200-results":
		finish(jobs.Result{Status: jobs.Complete, StatusCode: 200,
			Results: []byte("{ \"big\": 12345678901234567890, \"f\": 1.10,\n \"nested\": {\"z\": [1, 2], \"a\": \"\u00e9\\u00e9<&>\"} }")})
	case "complete-204":
		finish(jobs.Result{Status: jobs.Complete, StatusCode: 204})
	case "complete-409-1":
		finish(jobs.Result{Status: jobs.Complete, StatusCode: 409, ReasonCode: 1})
	case "complete-500-0":
		finish(jobs.Result{Status: jobs.Complete, StatusCode: 500, ReasonCode: 0})
	case "canceled":
		cancel()
		finish(jobs.Result{Status: jobs.Canceled, StatusCode: 409, ReasonCode: 2})
	case "expired":
		finish(jobs.Result{Status: jobs.Complete, StatusCode: 204})
		s.clock.Advance(jobs.MinRetention + time.Second)
	case "deleted":
		finish(jobs.Result{Status: jobs.Complete, StatusCode: 204})
		if err := s.reg.Delete(ctx, jobs.Caller{Owner: owner}, j.ID); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown job state %q", state)
	}
	return j.ID
}

// seedJob stores a job under the id of IBM's sample exchange.
func (s *stack) seedJob(t testing.TB, id string, owner jobs.Owner) string {
	t.Helper()
	ctx := context.Background()
	j, err := s.store.Create(ctx, jobs.Job{ID: id, Owner: owner, Operation: "seed", Status: jobs.Running, Created: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.reg.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	return id
}

// logon opens a session of alice and returns its id.
func (s *stack) logon(t testing.TB) string {
	t.Helper()
	sess, err := s.auth.Sessions.Logon(context.Background(), "alice", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return sess.ID
}

// spread is a client connection made of several: unary calls take the
// first, and each stream the next in turn.
type spread struct {
	conns []*grpc.ClientConn
	next  atomic.Uint32
}

func (s *spread) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return s.conns[0].Invoke(ctx, method, args, reply, opts...)
}

func (s *spread) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return s.conns[int(s.next.Add(1))%len(s.conns)].NewStream(ctx, desc, method, opts...)
}

func (s *spread) Close() error {
	var errs []error
	for _, c := range s.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
