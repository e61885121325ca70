package server

import (
	"context"
	"net"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Who asks is decided in one place, the authentication interceptor: it
// collects the facts of the call (bcpii.Credentials: the verified client
// certificate, whether the connection is local, X-API-Session), has
// bcpii.Authenticator turn them into a principal, and puts that in the
// call's context. Handlers only read it (caller, identity); a call that
// reaches a handler without one is refused, so an RPC added tomorrow is
// authenticated without anyone remembering to.
//
// Over a connection the facts come from the transport. An in-process
// caller, the REST gateway, collected them from its own connection and
// hands them over in the context (WithCredentials): a context value
// cannot cross a network connection, so no remote caller can set one.

// Who is the identity of a call, as the authentication interceptor decides
// it.
type Who struct {
	// Caller is who asks, for the job rules.
	Caller jobs.Caller
	// Name is the API user or requesting partition, reported as
	// request-authenticated-as.
	Name string
	// BCPii is set for calls over the BCPii interface (a requesting
	// partition); their errors report bcpii-error.
	BCPii bool
}

// whoFor is the identity of a call by p whose X-API-Target-Name values
// are targets.
func whoFor(p bcpii.Principal, targets []string) Who {
	target := strings.Join(targets, ",") // more than one is malformed
	return Who{Caller: p.Caller(target, len(targets) > 0), Name: p.String(), BCPii: p.IsPartition()}
}

type credentialsKey struct{}

// WithCredentials returns ctx carrying the facts an in-process caller
// collected about its own request, for calls through InProcess.
func WithCredentials(ctx context.Context, c bcpii.Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// unauthenticated lists the methods that need no identity: the few a
// caller uses before it has one (log on, the API version) and the
// standard health and reflection services.
func unauthenticated(method string) bool {
	switch method {
	case "/bcpii.v1.SessionService/Logon", "/bcpii.v1.SessionService/GetVersion":
		return true
	}
	return strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

// authenticate identifies the call and records who asked in its call info,
// for the handlers and for error details.
func (s *Server) authenticate(ctx context.Context, method string) error {
	if unauthenticated(method) {
		return nil
	}
	// Only the keys judged by are read: copying the whole metadata would
	// cost every call.
	c, ok := ctx.Value(credentialsKey{}).(bcpii.Credentials)
	if !ok {
		c = s.credentialsOf(ctx)
	}
	p, err := s.auth.Authenticate(c)
	if err != nil {
		return err
	}
	who := whoFor(p, metadata.ValueFromIncomingContext(ctx, rpctypes.TargetKey))
	if info := callInfoFrom(ctx); info != nil {
		info.who = &who
	}
	return nil
}

// credentialsOf collects the facts of a call over a connection: the
// X-API-Session it carries, the client certificate the TLS stack verified,
// and whether it is local (the Unix socket, or loopback where allowed).
// Nothing else a caller sends enters.
func (s *Server) credentialsOf(ctx context.Context) bcpii.Credentials {
	var c bcpii.Credentials
	if v := metadata.ValueFromIncomingContext(ctx, rpctypes.SessionKey); len(v) > 0 {
		c.SessionPresent = true
		c.Session = v[0]
	}
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return c
	}
	if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
		c.ClientCert = ti.State.VerifiedChains[0][0]
	}
	switch a := pr.Addr.(type) {
	case *net.UnixAddr:
		c.Local = true
	case *net.TCPAddr:
		c.Local = s.loopback && a.IP.IsLoopback()
	}
	return c
}

// identity returns who makes the call, as the authentication interceptor
// decided it. A call that was not authenticated has no identity, and is
// refused as one without a session.
func identity(ctx context.Context) (Who, error) {
	if info := callInfoFrom(ctx); info != nil && info.who != nil {
		return *info.who, nil
	}
	return Who{}, bcpii.ErrNoSession
}

// caller returns who makes the call, for the job rules.
func caller(ctx context.Context) (jobs.Caller, error) {
	who, err := identity(ctx)
	return who.Caller, err
}

// Interface names the door a call came through, for metrics: "rest" for
// the REST gateway's in-process calls (which carry the credentials it
// collected), "grpc" for the others.
func Interface(ctx context.Context) string {
	if _, ok := ctx.Value(credentialsKey{}).(bcpii.Credentials); ok {
		return "rest"
	}
	return "grpc"
}
