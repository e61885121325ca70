package bcpii

import (
	"crypto/x509"
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

// Authenticate applies the rules in order: a request that presents
// X-API-Session is an API user's, whatever its connection (an unknown or
// expired session is 403.5, an empty one 403.4); else a verified client
// certificate names the requesting partition; else a local connection is
// the local partition; else the request needs a session it lacks (403.4).
// A session presented with a session-credential is valid only if the
// credential is the session's.
func (a *Authenticator) Authenticate(c Credentials) (Principal, error) {
	switch {
	case c.SessionPresent:
		if c.Session == "" {
			return Principal{}, ErrNoSession
		}
		if a.Sessions == nil {
			return Principal{}, ErrSessionNotValid
		}
		lookup := a.Sessions.Lookup
		if c.CredentialPresent {
			lookup = func(id string) (Session, error) { return a.Sessions.LookupCredential(id, c.SessionCredential) }
		}
		s, err := lookup(c.Session)
		if err != nil {
			return Principal{}, err
		}
		return s.Principal(), nil
	case c.ClientCert != nil:
		t, err := PartitionFromCertificate(c.ClientCert)
		if err != nil {
			// The TLS handshake refuses such certificates; this is the
			// second line.
			return Principal{}, ErrNoSession.WithCause(err)
		}
		return PartitionPrincipal(t)
	case c.Local && !a.Local.IsZero():
		return a.Local, nil
	}
	return Principal{}, ErrNoSession
}
