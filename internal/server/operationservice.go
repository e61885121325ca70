package server

import (
	"context"
	"net/url"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// Backend runs operations: the simulated SE or an upstream HMC. It
// registers the job of an operation with the registry before answering
// 202. Its errors are *hmcerr.Error.
type Backend interface {
	Invoke(ctx context.Context, req bcpii.OperationRequest) (bcpii.OperationResponse, error)
	// Resolve tells the target name of the object a URI addresses, if it
	// addresses a known one.
	Resolve(uri string) (bcpii.TargetName, bool)
	// ConsoleVersion is the console the backend reaches, for Query API
	// Version: the simulated SE's, or the upstream HMC's answer.
	ConsoleVersion(ctx context.Context) (bcpii.ConsoleVersion, error)
}

// operationService passes requests to the backend after the BCPii
// target-name rule.
type operationService struct {
	bcpiiv1.UnimplementedOperationServiceServer
	srv *Server
}

func (s *operationService) Invoke(ctx context.Context, req *bcpiiv1.InvokeRequest) (*bcpiiv1.InvokeResponse, error) {
	who, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	if s.srv.backend == nil {
		return nil, hmcerr.ErrUnavailable
	}
	method := strings.ToUpper(req.GetMethod())
	switch method {
	case "GET", "POST", "PUT", "DELETE":
	default:
		return nil, hmcerr.ErrMethodNotAllowed
	}
	uri := req.GetUri()
	u, err := url.ParseRequestURI(uri)
	if err != nil || !strings.HasPrefix(u.Path, "/api/") {
		return nil, hmcerr.ErrNotFound
	}
	var target bcpii.TargetName
	if who.BCPii {
		// Path and method come before the target, in the HMC's order; an
		// unknown object is the backend's 404.1, which comes first too.
		m, err := bcpii.MatchOperation(method, uri)
		if err != nil {
			return nil, err
		}
		if target, err = m.CheckTarget(req.GetTargetName(), req.GetTargetName() != "", s.srv.backend.Resolve); err != nil {
			return nil, err
		}
	}
	ans, err := s.srv.backend.Invoke(ctx, bcpii.OperationRequest{
		Principal: who.Principal,
		Target:    target,
		Method:    method,
		URI:       uri,
		Body:      []byte(req.GetBody()),
	})
	if err != nil {
		return nil, err
	}
	return &bcpiiv1.InvokeResponse{HttpStatus: int32(ans.Status), Body: string(ans.Body), JobUri: ans.JobURI}, nil
}
