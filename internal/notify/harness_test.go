package notify_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/notify"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp"
	"github.com/bcpii-gateway/bcpii-gateway/internal/stomp/stomptest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

func TestMain(m *testing.M) {
	if os.Getenv("BCPII_STOMP_FANOUT_CLIENT") == "1" {
		os.Exit(fanoutClient()) // the client process of BenchmarkStompFanout
	}
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every read in real time: a broken server fails the test
// instead of hanging it.
const waitLimit = 10 * time.Second

const (
	alicePassword = "alice-Passw0rd"
	bobPassword   = "bob-Passw0rd"
	localName     = "IBM390PS.CPC1.LP1"
)

// fixture is a notify.Server on a loopback port, with a registry on a fake
// clock, the API users alice and bob, and LP1 as the local partition.
type fixture struct {
	srv   *notify.Server
	reg   *jobs.Registry
	clock *clocktest.Fake
	auth  *bcpii.Authenticator
	addr  string
	lis   *gateListener
}

func newFixture(t *testing.T, opts ...func(*notify.Config)) *fixture {
	t.Helper()
	return newFixtureTB(t, nil, opts...)
}

// newFixtureTB is newFixture for benchmarks too; wrap, if not nil, wraps
// the listener the server serves (with TLS).
func newFixtureTB(t testing.TB, wrap func(net.Listener) net.Listener, opts ...func(*notify.Config)) *fixture {
	t.Helper()
	hash := func(p string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	users, err := bcpii.ParseUsers([]byte(`{"users":[{"name":"alice","password-hash":"` + hash(alicePassword) +
		`"},{"name":"bob","password-hash":"` + hash(bobPassword) + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	fc := clocktest.NewFake(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	reg, err := jobs.New(jobs.Config{Store: memstore.New(), Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	tn, _ := bcpii.ParseTargetName(localName)
	local, _ := bcpii.PartitionPrincipal(tn)
	auth := &bcpii.Authenticator{Local: local, Sessions: bcpii.NewSessionsIn(users, fc, time.Hour, nil)}
	cfg := notify.Config{Registry: reg, Authenticator: auth, Loopback: true, Clock: fc}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := notify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := &gateListener{Listener: l, accepted: make(chan *gatedConn, 64)}
	var served net.Listener = gl
	if wrap != nil {
		served = wrap(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, served) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(waitLimit): // a bound on the wait, so that a broken feature fails the test
			t.Errorf("Serve did not return within %v of its context ending", waitLimit)
		}
	})
	return &fixture{srv: srv, reg: reg, clock: fc, auth: auth, addr: l.Addr().String(), lis: gl}
}

func (f *fixture) logon(t *testing.T, user, password string) bcpii.Session {
	t.Helper()
	s, err := f.auth.Sessions.Logon(context.Background(), user, password)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// endJob creates a job of owner's and ends it, returning its URI.
func (f *fixture) endJob(t *testing.T, owner jobs.Owner) string {
	t.Helper()
	ctx := context.Background()
	j, err := f.reg.Create(ctx, jobs.Spec{Owner: owner, Operation: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 200}); err != nil {
		t.Fatal(err)
	}
	return j.URI()
}

var (
	aliceOwner = jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	bobOwner   = jobs.Owner{Kind: jobs.UserOwner, Name: "bob"}
	lp1Owner   = jobs.Owner{Kind: jobs.PartitionOwner, Name: localName}
)

// client is a STOMP client on the frame codec, every read bounded, that
// remembers the topic it last subscribed to for its probes.
type client struct {
	*stomptest.Client
	topic  string // the last subscribed
	probes int
}

func (f *fixture) dial(t *testing.T) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", f.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	return &client{Client: stomptest.New(t, nc, waitLimit)}
}

// expectClosed checks that the server closes the connection.
func (c *client) expectClosed() {
	c.T.Helper()
	f, err := c.TryRead(waitLimit)
	if err == nil {
		c.T.Fatalf("frame %s %v after the end, want the connection closed", f.Command, f.Headers)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.T.Fatalf("the connection stays open")
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
		c.T.Fatalf("read after the end: %v", err)
	}
}

// expectNothing checks that nothing arrives for a moment. What it proves
// is kept by a later frame arriving in order: tests follow it with a
// receipt, which would come after anything wrongly sent.
func (c *client) expectNothing() {
	c.T.Helper()
	c.probes++
	id := "probe-" + strconv.Itoa(c.probes)
	c.Send(stomp.CmdSubscribe, "id", id, "destination", "/topic/"+c.topic, "receipt", id)
	if f := c.Read(); f.Command != stomp.CmdReceipt {
		c.T.Fatalf("frame %s %v, want nothing before the probe's RECEIPT", f.Command, f.Headers)
	}
	c.Send(stomp.CmdUnsubscribe, "id", id, "receipt", id)
	c.Expect(stomp.CmdReceipt, "receipt-id", id)
}

// connect sends CONNECT with headers and checks the answer is CONNECTED.
func (c *client) connect(headers ...string) *stomp.Frame {
	c.T.Helper()
	c.Send(stomp.CmdConnect, append([]string{"accept-version", "1.2", "host", "bcpii-gateway"}, headers...)...)
	return c.Expect(stomp.CmdConnected, "version", "1.2")
}

// subscribe subscribes to topic with a receipt and waits for it.
func (c *client) subscribe(id, topic string) {
	c.T.Helper()
	c.Send(stomp.CmdSubscribe, "id", id, "destination", "/topic/"+topic, "ack", "auto", "receipt", "sub-"+id)
	c.Expect(stomp.CmdReceipt, "receipt-id", "sub-"+id)
	c.topic = topic
}

// gateListener hands the test each connection it accepts, wrapped so that
// the test can hold the server's writes to it: a subscriber that does not
// read.
type gateListener struct {
	net.Listener
	accepted chan *gatedConn
}

func (l *gateListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	g := &gatedConn{Conn: c, held: make(chan struct{}, 1)}
	select {
	case l.accepted <- g:
	default:
	}
	return g, nil
}

// accepted returns the server's side of the connection accepted next.
func (f *fixture) accepted(t *testing.T) *gatedConn {
	t.Helper()
	select {
	case g := <-f.lis.accepted:
		return g
	case <-time.After(waitLimit): // a bound on the wait, so that a broken feature fails the test
		t.Fatal("no connection accepted")
		return nil
	}
}

// gatedConn is a server connection whose writes the test can hold.
type gatedConn struct {
	net.Conn
	mu   sync.Mutex
	gate chan struct{} // nil: writes pass
	held chan struct{} // told when a write waits at the gate
}

// hold makes the writes from now on wait until release is called, which
// t.Cleanup does at the latest.
func (g *gatedConn) hold(t *testing.T) (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.gate = ch
	g.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return release
}

func (g *gatedConn) Write(b []byte) (int, error) {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case g.held <- struct{}{}:
		default:
		}
		<-gate
	}
	return g.Conn.Write(b)
}
