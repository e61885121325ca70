package bcpii

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
)

// Credentials is what a transport says about a request: the session header
// it carried, the client certificate its TLS stack verified, and whether it
// came over a local connection. Headers other than X-API-Session never
// enter here: nothing a caller writes can make it a partition.
type Credentials struct {
	// Session is the X-API-Session value; SessionPresent says whether the
	// header was there at all (an empty one is still a session, and not a
	// valid one).
	Session        string
	SessionPresent bool
	// SessionCredential is the session-credential a notification (STOMP)
	// connection presents with its session; CredentialPresent says whether
	// it presented one. Requests over REST and gRPC never do.
	SessionCredential string
	CredentialPresent bool
	// ClientCert is the leaf certificate the TLS stack verified against the
	// configured CA; nil when the connection presented none.
	ClientCert *x509.Certificate
	// Local is set for connections the gateway's own partition makes: a
	// Unix domain socket, or loopback when that is allowed.
	Local bool
}

// Authenticator decides who makes a request.
type Authenticator struct {
	// Local is the partition the gateway runs in: the principal of local
	// connections. Zero means local connections have no identity.
	Local Principal
	// Sessions holds the API users' sessions; nil means there are no API
	// users, and every X-API-Session is unknown.
	Sessions *Sessions
}

// CredentialsOf is the one collection of a request's facts, whatever door
// it came through (REST, gRPC, the Unix socket, STOMP): the X-API-Session
// values it carried (nil when none), the TLS state of its connection (nil
// without TLS), and its remote address, which makes it local over a Unix
// socket, or over loopback where loopback counts as local. Nothing else a
// caller sends enters.
func CredentialsOf(session []string, state *tls.ConnectionState, remote net.Addr, loopback bool) Credentials {
	var c Credentials
	if len(session) > 0 {
		c.SessionPresent, c.Session = true, session[0]
	}
	if state != nil && len(state.VerifiedChains) > 0 && len(state.VerifiedChains[0]) > 0 {
		c.ClientCert = state.VerifiedChains[0][0]
	}
	switch a := remote.(type) {
	case *net.UnixAddr:
		c.Local = true
	case *net.TCPAddr:
		c.Local = loopback && a.IP.IsLoopback()
	}
	return c
}

// Identity is who makes a request, as Authenticate decides it: the
// principal and, for an API user, the session it presented.
type Identity struct {
	Principal Principal
	// Session is the API user's session; nil for a partition.
	Session *Session
}

// Decision decides the identity of one request once, when first asked:
// the REST gateway's early error bodies and the service's authentication
// share it, so that a session is looked up once per request.
type Decision struct {
	auth  *Authenticator
	creds Credentials
	once  sync.Once
	id    Identity
	err   error
}

// Decide returns the decision for a request with credentials c, not yet
// made.
func (a *Authenticator) Decide(c Credentials) *Decision { return &Decision{auth: a, creds: c} }

// DecideIn is Decide with the decision kept in d, a request's own record,
// rather than allocated; d must be new or no longer in use.
func (a *Authenticator) DecideIn(d *Decision, c Credentials) *Decision {
	*d = Decision{auth: a, creds: c}
	return d
}

// Identity is the decision, made under ctx on the first call.
func (d *Decision) Identity(ctx context.Context) (Identity, error) {
	d.once.Do(func() { d.id, d.err = d.auth.Authenticate(ctx, d.creds) })
	return d.id, d.err
}

// Authenticate applies the rules in order: a request that presents
// X-API-Session is an API user's, whatever its connection (an unknown or
// expired session is 403.5, an empty one 403.4); else a verified client
// certificate names the requesting partition; else a local connection is
// the local partition; else the request needs a session it lacks (403.4).
// A session presented with a session-credential is valid only if the
// credential is the session's. A session lookup runs under ctx.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (Identity, error) {
	switch {
	case c.SessionPresent:
		if c.Session == "" {
			return Identity{}, ErrNoSession
		}
		if a.Sessions == nil {
			return Identity{}, ErrSessionNotValid
		}
		var s Session
		var err error
		if c.CredentialPresent {
			s, err = a.Sessions.LookupCredential(ctx, c.Session, c.SessionCredential)
		} else {
			s, err = a.Sessions.Lookup(ctx, c.Session)
		}
		if err != nil {
			return Identity{}, err
		}
		return Identity{Principal: s.Principal(), Session: &s}, nil
	case c.ClientCert != nil:
		t, err := PartitionFromCertificate(c.ClientCert)
		if err != nil {
			// The TLS handshake refuses such certificates; this is the
			// second line.
			return Identity{}, ErrNoSession.WithCause(err)
		}
		p, err := PartitionPrincipal(t)
		return Identity{Principal: p}, err
	case c.Local && !a.Local.IsZero():
		return Identity{Principal: a.Local}, nil
	}
	return Identity{}, ErrNoSession
}
