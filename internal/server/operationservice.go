package server

import (
	"context"
	"net/url"
	"strings"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Operation is one request for the backend.
type Operation struct {
	// Owner will own the job the operation starts.
	Owner jobs.Owner
	// Target is the checked target name of a BCPii request, upper case;
	// empty for API users. The job remembers it.
	Target string
	// Method and URI are the HTTP method and the request URI as received.
	Method, URI string
	// Body is the JSON body; empty for none.
	Body []byte
}

// Answer is the backend's successful answer.
type Answer struct {
	Status int
	Body   []byte
	JobURI string
}

// Backend runs operations: the simulated SE or an upstream HMC. It
// registers the job of an operation with the registry before answering
// 202. Its errors are *hmcerr.Error.
type Backend interface {
	Invoke(ctx context.Context, op Operation) (Answer, error)
	// Resolve tells the target name of the object a URI addresses, if it
	// addresses a known one.
	Resolve(uri string) (target string, ok bool)
}

var errWrongObjectTarget = hmcerr.ErrBadTargetName.WithMessage("The X-API-Target-Name header does not name the object the request addresses.")

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
	var target string
	if who.BCPii && !targetExempt(method, u.Path) {
		// An unknown object is the backend's 404.1, which comes first.
		if objTarget, ok := s.srv.backend.Resolve(uri); ok {
			named, err := bcpii.TargetFromHeader(req.GetTargetName(), req.GetTargetName() != "")
			if err != nil {
				return nil, err
			}
			obj, err := bcpii.ParseTargetName(objTarget)
			if err != nil || !obj.Equal(named) {
				return nil, errWrongObjectTarget
			}
			target = named.String()
		}
	}
	ans, err := s.srv.backend.Invoke(ctx, Operation{
		Owner:  who.Caller.Owner,
		Target: target,
		Method: method,
		URI:    uri,
		Body:   []byte(req.GetBody()),
	})
	if err != nil {
		return nil, err
	}
	return &bcpiiv1.InvokeResponse{HttpStatus: int32(ans.Status), Body: string(ans.Body), JobUri: ans.JobURI}, nil
}

// targetExempt lists the BCPii requests that carry no X-API-Target-Name,
// as HWIREST sends them: Query API Version and List CPCs.
func targetExempt(method, path string) bool {
	return method == "GET" && (path == "/api/version" || path == "/api/cpcs")
}
