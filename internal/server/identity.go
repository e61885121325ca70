package server

import (
	"context"
	"crypto/tls"
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
// Over a connection the facts come from the transport
// (bcpii.CredentialsOf). An in-process caller, the REST gateway, collected
// them from its own connection and hands over its decision in the context
// (Request.Decision), made at most once for the request: a context value
// cannot cross a network connection, so no remote caller can set one.

// Who is the identity of a call, as the authentication interceptor decides
// it.
type Who struct {
	// Caller is who asks, for the job rules.
	Caller jobs.Caller
	// Principal is the API user or requesting partition, reported as
	// request-authenticated-as.
	Principal bcpii.Principal
	// Session is the API user's session; nil for a partition.
	Session *bcpii.Session
	// BCPii is set for calls over the BCPii interface (a requesting
	// partition); their errors report bcpii-error.
	BCPii bool
}

// whoFor is the identity of a call by id whose X-API-Target-Name values
// are targets; the call's target rule is kept in t.
func whoFor(t *bcpii.TargetCheck, id bcpii.Identity, targets []string) Who {
	target := strings.Join(targets, ",") // more than one is malformed
	p := id.Principal
	return Who{Caller: p.CallerIn(t, target, len(targets) > 0), Principal: p, Session: id.Session, BCPii: p.IsPartition()}
}

// decisionFrom is the decision an in-process caller handed over with its
// request (Request.Decision), or nil.
func decisionFrom(ctx context.Context) *bcpii.Decision {
	if r := requestFrom(ctx); r != nil {
		return r.Decision
	}
	return nil
}

// Unauthenticated lists the methods that need no identity: the few a
// caller uses before it has one (log on, the API version) and the
// standard health and reflection services. It is the one list: the REST
// gateway takes its public requests from it.
func Unauthenticated(method string) bool {
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
	if Unauthenticated(method) {
		return nil
	}
	// Only the keys judged by are read: copying the whole metadata would
	// cost every call.
	d := decisionFrom(ctx)
	if d == nil {
		if c, ok := ctx.(*callContext); ok {
			d = s.auth.DecideIn(&c.decision, s.credentialsOf(ctx))
		} else {
			d = s.auth.Decide(s.credentialsOf(ctx))
		}
	}
	id, err := d.Identity(ctx)
	if err != nil {
		return err
	}
	if info := callInfoFrom(ctx); info != nil {
		info.who = whoFor(&info.target, id, metadata.ValueFromIncomingContext(ctx, rpctypes.TargetKey))
		info.identified = true
	}
	return nil
}

// credentialsOf collects the facts of a call over a connection: the
// X-API-Session it carries, the client certificate the TLS stack verified,
// and whether it is local (the Unix socket, or loopback where allowed).
// Nothing else a caller sends enters.
func (s *Server) credentialsOf(ctx context.Context) bcpii.Credentials {
	session := metadata.ValueFromIncomingContext(ctx, rpctypes.SessionKey)
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return bcpii.CredentialsOf(session, nil, nil, false)
	}
	var state *tls.ConnectionState
	if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok {
		state = &ti.State
	}
	return bcpii.CredentialsOf(session, state, pr.Addr, s.loopback)
}

// identity returns who makes the call, as the authentication interceptor
// decided it. A call that was not authenticated has no identity, and is
// refused as one without a session.
func identity(ctx context.Context) (Who, error) {
	if info := callInfoFrom(ctx); info != nil && info.identified {
		return info.who, nil
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
	if decisionFrom(ctx) != nil {
		return "rest"
	}
	return "grpc"
}
