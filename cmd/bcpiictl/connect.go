package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
)

// callTimeout bounds every unary call; streams are bounded by their
// command's --timeout.
const callTimeout = 30 * time.Second

// client is a connection to the gateway with the metadata every call
// carries.
type client struct {
	g        *globals
	cc       *grpc.ClientConn
	session  string
	jobs     bcpiiv1.JobServiceClient
	ops      bcpiiv1.OperationServiceClient
	sessions bcpiiv1.SessionServiceClient
	done     func()
}

// call is the context of one call naming target ("" for none), bounded by
// callTimeout.
func (c *client) call(ctx context.Context, target string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	return c.stream(ctx, target), cancel
}

// stream is the context of a stream naming target; its bound is the
// caller's.
func (c *client) stream(ctx context.Context, target string) context.Context {
	md := metadata.MD{}
	if target != "" {
		md.Set(rpctypes.TargetKey, target)
	}
	if c.session != "" {
		md.Set(rpctypes.SessionKey, c.session)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// where names the gateway for messages: its address or socket.
func (g *globals) where() string {
	if g.socket != "" {
		return g.socket
	}
	return g.addr
}

// systemDataDir is the data directory of the system gateway that
// deploy/systemd runs; BCPII_SYSTEM_DATA_DIR names another.
func (g *globals) systemDataDir() string {
	return envOr(g.env.getenv, "BCPII_SYSTEM_DATA_DIR", "/var/lib/bcpii-gateway")
}

// findSystemGateway makes a bcpiictl given nothing of where the gateway
// is, and that finds no gateway of the user's own on this host, use the
// system gateway's Unix socket: a member of the socket's group is then
// the local partition, with no flag.
func (g *globals) findSystemGateway() {
	if g.socket != "" || g.ca != "" || g.cert != "" || g.plaintext || g.addr != "localhost:6795" {
		return
	}
	if _, err := os.Stat(g.caFile()); err == nil {
		return // a gateway of the user's own
	}
	if sock := filepath.Join(g.systemDataDir(), "grpc.sock"); fileExists(sock) {
		g.socket = sock
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// dial connects (lazily, as gRPC does) without logging on.
func (g *globals) dial(ctx context.Context) (*client, error) {
	g.findSystemGateway()
	var creds credentials.TransportCredentials
	target := g.addr
	switch {
	case g.socket != "":
		target = "unix://" + g.socket
		creds = insecure.NewCredentials()
	case g.plaintext:
		creds = insecure.NewCredentials()
	default:
		tc, err := g.tlsConfig()
		if errors.Is(err, fs.ErrNotExist) {
			// No certificate to trust may mean a gateway that needs none.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			kind, _ := probe(pctx, g.addr)
			cancel()
			if kind == grpcPlain {
				return nil, needsPlaintext(g.addr)
			}
		}
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, usagef("--addr %q: %v", g.addr, err)
	}
	return &client{
		g: g, cc: cc,
		jobs: bcpiiv1.NewJobServiceClient(cc), ops: bcpiiv1.NewOperationServiceClient(cc),
		sessions: bcpiiv1.NewSessionServiceClient(cc), done: func() { cc.Close() },
	}, nil
}

// connect dials and brings the caller's identity: --session, a logon of
// --user for this command, or the session 'bcpiictl logon' kept.
func (g *globals) connect(ctx context.Context) (*client, error) {
	c, err := g.dial(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case g.session != "":
		c.session = g.session
	case g.user != "":
		pw := g.env.getenv("BCPII_PASSWORD")
		if pw == "" {
			c.done()
			return nil, usagef("--user needs the password in BCPII_PASSWORD (or run 'bcpiictl logon')")
		}
		if c.session, err = c.logon(ctx, g.user, pw); err != nil {
			c.done()
			return nil, err
		}
		c.done = func() {
			_ = c.logoff(context.WithoutCancel(ctx))
			c.cc.Close()
		}
	default:
		c.session = g.keptSession()
	}
	return c, nil
}

func (c *client) logon(ctx context.Context, user, password string) (string, error) {
	cctx, cancel := c.call(ctx, "")
	defer cancel()
	r, err := c.sessions.Logon(cctx, &bcpiiv1.LogonRequest{Userid: user, Password: password})
	if err != nil {
		return "", c.describe(ctx, err)
	}
	return r.GetApiSession(), nil
}

// logoff ends the client's session; its error is the gateway's own.
func (c *client) logoff(ctx context.Context) error {
	cctx, cancel := c.call(ctx, "")
	defer cancel()
	_, err := c.sessions.Logoff(cctx, &bcpiiv1.LogoffRequest{})
	return err
}

// certFailure records the certificate a handshake refused.
type certFailure struct {
	mu          sync.Mutex
	fingerprint string
}

func (f *certFailure) set(fp string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fingerprint = fp
}

func (f *certFailure) get() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fingerprint
}

// tlsConfig verifies the gateway's certificate itself (as crypto/tls's
// VerifyConnection example does) so that a certificate the CA does not
// vouch for can be named by its fingerprint in the error message.
func (g *globals) tlsConfig() (*tls.Config, error) {
	ca := g.caFile()
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w (set --ca or BCPII_CA to the gateway's certificate)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate (set --ca or BCPII_CA)", ca)
	}
	g.certFailure = &certFailure{}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified in VerifyConnection, below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the gateway presented no certificate")
			}
			opts := x509.VerifyOptions{Roots: pool, DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			if err != nil {
				g.certFailure.set(fingerprint(cs.PeerCertificates[0].Raw))
			}
			return err
		},
	}
	if g.cert != "" {
		pair, err := tls.LoadX509KeyPair(g.cert, g.key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

func (g *globals) caFile() string {
	if g.ca != "" {
		return g.ca
	}
	return filepath.Join(defaultDataDir(g.env.getenv), "tls", "gateway.crt")
}

// fingerprint is a certificate's SHA-256 fingerprint as the gateway logs
// it: upper-case hex pairs joined by colons.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	pairs := make([]string, 0, len(h)/2)
	for i := 0; i < len(h); i += 2 {
		pairs = append(pairs, h[i:i+2])
	}
	return strings.Join(pairs, ":")
}

// defaultDataDir is the data directory of a gateway on this host run on
// its defaults.
func defaultDataDir(getenv func(string) string) string {
	switch {
	case getenv("BCPII_DATA_DIR") != "":
		return getenv("BCPII_DATA_DIR")
	case getenv("XDG_DATA_HOME") != "":
		return filepath.Join(getenv("XDG_DATA_HOME"), "bcpii-gateway")
	}
	return filepath.Join(getenv("HOME"), ".local", "share", "bcpii-gateway")
}

// describe turns a gateway error into something a person can act on: the
// HMC's status and reason, or, for a connection that failed, what is at
// the address.
func (c *client) describe(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if d, ok := rpctypes.HMCDetail(err); ok {
		if d.GetHttpStatus() == 403 && d.GetReason() == 4 {
			// No identity: neither the local partition nor a session.
			return fmt.Errorf("%d.%d: %s The gateway does not take this host for its partition: log on as an API user with "+
				"'bcpiictl logon USER' (or --user, --session), connect over its Unix socket with --socket, or use a partition's "+
				"certificate with --cert and --key", d.GetHttpStatus(), d.GetReason(), d.GetMessage())
		}
		return fmt.Errorf("%d.%d: %s", d.GetHttpStatus(), d.GetReason(), d.GetMessage())
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	if s.Code() == codes.Unavailable {
		if d := c.g.diagnose(ctx); d != nil {
			return d
		}
		return fmt.Errorf("the gateway at %s is unavailable: %s", c.g.where(), s.Message())
	}
	return fmt.Errorf("%s: %s", s.Code(), s.Message())
}

// diagnose says why no gRPC connection to the gateway came up, by what
// the address answers; nil if it cannot tell.
func (g *globals) diagnose(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if g.socket != "" {
		if c, err := net.Dial("unix", g.socket); err == nil {
			c.Close()
		} else if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("the socket %s is not open to this user: it is the local partition's door, for the members of its group "+
				"(bcpii in deploy/systemd); ask to join it, or reach the gateway's ports as an API user ('bcpiictl logon USER')", g.socket)
		}
		return fmt.Errorf("no gateway answers on the socket %s; start one, or name its socket with --socket or BCPII_SOCKET", g.socket)
	}
	if g.certFailure != nil {
		if fp := g.certFailure.get(); fp != "" {
			return fmt.Errorf("the gateway at %s presented a certificate that %s does not vouch for (SHA-256 fingerprint %s); "+
				"if that is the fingerprint the gateway logged at start, trust its certificate with --ca or BCPII_CA", g.addr, g.caFile(), fp)
		}
	}
	kind, err := probe(ctx, g.addr)
	switch {
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("no gateway answers at %s (connection refused); start one, or name its gRPC address with --addr or BCPII_ADDR", g.addr)
	case err != nil:
		return fmt.Errorf("cannot reach a gateway at %s: %v; name its gRPC address with --addr or BCPII_ADDR", g.addr, err)
	case kind == restTLS || kind == restPlain:
		return fmt.Errorf("%s is a REST (HMC Web Services API) port, not the gateway's gRPC port: bcpiictl speaks gRPC, "+
			"on port 6795 unless the gateway runs with --grpc-addr; name it with --addr or BCPII_ADDR", g.addr)
	case kind == otherHTTP:
		return fmt.Errorf("%s answers plain HTTP, as the gateway's admin port (/metrics, /readyz) does, not gRPC: bcpiictl speaks gRPC, "+
			"on port 6795 unless the gateway runs with --grpc-addr; name it with --addr or BCPII_ADDR", g.addr)
	case kind == stompTLS:
		return fmt.Errorf("%s is a STOMP (HMC notifications) port, not the gateway's gRPC port: bcpiictl speaks gRPC, "+
			"on port 6795 unless the gateway runs with --grpc-addr; name it with --addr or BCPII_ADDR", g.addr)
	case kind == grpcPlain && !g.plaintext:
		return needsPlaintext(g.addr)
	case kind == grpcTLS && g.plaintext:
		return fmt.Errorf("the gateway at %s serves gRPC over TLS: drop --plaintext", g.addr)
	}
	return nil
}

func needsPlaintext(addr string) error {
	return fmt.Errorf("the gateway at %s serves gRPC without TLS (it runs with --plaintext): add --plaintext", addr)
}

// What an address speaks, as probe finds it.
type speaks int

const (
	unknownProtocol speaks = iota
	grpcPlain
	grpcTLS
	restPlain
	restTLS
	otherHTTP // plain HTTP without the gateway's Server header: the admin port
	stompTLS  // STOMP over TLS: the notification port
)

// http2Preface is what an HTTP/2 client sends first: the connection
// preface and an empty SETTINGS frame.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")

// probe finds what addr speaks: a plaintext HTTP/2 server answers the
// preface with a SETTINGS frame and a plaintext HTTP/1 server with a
// status line (the REST port's names the gateway in its Server header,
// the admin port's does not); a TLS server negotiates h2 (gRPC) or not,
// and then answers an HTTP request with a status line (REST, which is
// HTTP/1.1 only) or with a STOMP ERROR frame (the notification port).
func probe(ctx context.Context, addr string) (speaks, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return unknownProtocol, err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	_, _ = conn.Write(http2Preface)
	head := readSome(conn, 512)
	conn.Close()
	switch {
	case len(head) >= 4 && head[3] == 0x04:
		return grpcPlain, nil
	case bytes.HasPrefix(head, []byte("HTTP/")) && bytes.Contains(head, []byte("\r\nServer: bcpii-gateway\r\n")):
		return restPlain, nil
	case bytes.HasPrefix(head, []byte("HTTP/")):
		return otherHTTP, nil
	}
	conn, err = d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return unknownProtocol, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(addr)
	// Only the protocol is looked at; nothing but a probe is sent over
	// this connection, so its certificate need not be verified.
	tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) //nolint:gosec // a probe, see above
	if err := tc.HandshakeContext(ctx); err != nil {
		return unknownProtocol, nil
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		return grpcTLS, nil
	}
	_, _ = tc.Write([]byte("GET /api/version HTTP/1.1\r\nHost: " + host + "\r\n\r\n"))
	if head := readSome(tc, 16); bytes.HasPrefix(head, []byte("ERROR")) || bytes.HasPrefix(head, []byte("CONNECTED")) {
		return stompTLS, nil
	}
	return restTLS, nil
}

// readSome reads up to n bytes, as many as arrive before the first pause
// or the connection's deadline.
func readSome(conn net.Conn, n int) []byte {
	buf := make([]byte, n)
	got, _ := io.ReadAtLeast(conn, buf, 1)
	for got < n {
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		m, err := conn.Read(buf[got:])
		got += m
		if err != nil {
			break
		}
	}
	return buf[:got]
}
