package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// PrincipalMetadataKey carries the principal the REST gateway
// authenticated to the gateway's internal gRPC server. Only that server,
// reachable in-process and nowhere else, believes it; the REST gateway never
// forwards a caller's header of this name, and the external server ignores
// it.
const PrincipalMetadataKey = "x-bcpii-principal"

// Forwarded identifies callers by the principal the REST gateway forwarded.
// Use it only on the internal server.
type Forwarded struct{}

// Identify reads the forwarded principal ("partition:NAME" or "user:NAME").
func (Forwarded) Identify(ctx context.Context) (jobs.Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(PrincipalMetadataKey)
	if len(vals) != 1 {
		return jobs.Caller{}, errors.New("server: internal request without exactly one forwarded principal")
	}
	kind, name, ok := strings.Cut(vals[0], ":")
	if !ok || name == "" || (kind != string(jobs.PartitionOwner) && kind != string(jobs.UserOwner)) {
		return jobs.Caller{}, errors.New("server: malformed forwarded principal")
	}
	return jobs.Caller{Owner: jobs.Owner{Kind: jobs.OwnerKind(kind), Name: name}}, nil
}
