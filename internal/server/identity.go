package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/metadata"

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
