package server

import (
	"context"
	"errors"
	"net"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Metadata keys of the HMC headers.
const (
	TargetMetadataKey  = "x-api-target-name"
	SessionMetadataKey = "x-api-session"
)

// PrincipalMetadataKey carries the principal the REST gateway
// authenticated to the gateway's internal gRPC server. Only that server,
// reachable in-process and nowhere else, believes it; the REST gateway never
// forwards a caller's header of this name, and the external server ignores
// it.
const PrincipalMetadataKey = "x-bcpii-principal"

// ForwardedPrincipal is the PrincipalMetadataKey value for p.
func ForwardedPrincipal(p bcpii.Principal) string { return p.Owner().String() }

// Forwarded identifies callers by the principal the REST gateway forwarded.
// Use it only on the internal server.
type Forwarded struct{}

// Identify reads the forwarded principal ("partition:NAME" or "user:NAME")
// and the forwarded X-API-Target-Name.
func (Forwarded) Identify(ctx context.Context) (Who, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(PrincipalMetadataKey)
	if len(vals) != 1 {
		return Who{}, errors.New("server: internal request without exactly one forwarded principal")
	}
	kind, name, _ := strings.Cut(vals[0], ":")
	var p bcpii.Principal
	var err error
	switch jobs.OwnerKind(kind) {
	case jobs.PartitionOwner:
		var t bcpii.TargetName
		if t, err = bcpii.ParseTargetName(name); err == nil {
			p, err = bcpii.PartitionPrincipal(t)
		}
	case jobs.UserOwner:
		p, err = bcpii.UserPrincipal(name)
	default:
		err = errors.New("unknown kind")
	}
	if err != nil {
		return Who{}, errors.New("server: malformed forwarded principal")
	}
	return WhoFor(p, md), nil
}

// WhoFor is the identity of a call by p whose metadata is md.
func WhoFor(p bcpii.Principal, md metadata.MD) Who {
	targets := md.Get(TargetMetadataKey)
	target := strings.Join(targets, ",") // more than one is malformed
	return Who{Caller: p.Caller(target, len(targets) > 0), Name: p.String(), BCPii: p.IsPartition()}
}

// Transport identifies callers of the external server by their connection
// (client certificate, Unix socket, loopback) and X-API-Session, never by
// a header that names a partition.
type Transport struct {
	Auth *bcpii.Authenticator
	// Loopback counts TCP connections from a loopback address as local.
	Loopback bool
}

// Identify applies bcpii.Authenticator's rules to the call.
func (t Transport) Identify(ctx context.Context) (Who, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p, err := t.Auth.Authenticate(credentialsOf(ctx, md, t.Loopback))
	if err != nil {
		return Who{}, err
	}
	return WhoFor(p, md), nil
}

func credentialsOf(ctx context.Context, md metadata.MD, loopback bool) bcpii.Credentials {
	var c bcpii.Credentials
	if s := md.Get(SessionMetadataKey); len(s) > 0 {
		c.SessionPresent = true
		c.Session = s[0]
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
		c.Local = loopback && a.IP.IsLoopback()
	}
	return c
}
