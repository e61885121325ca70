package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
)

// toStatus is the one place where an error becomes a gRPC status. Every
// status carries a bcpii.v1.HmcError detail with the HMC status and reason
// code, so gRPC clients see what REST clients see; the REST side renders
// that detail and does not decide codes again. Internal causes stay out of
// the status. who, when known, fills request-authenticated-as and
// bcpii-error.
func toStatus(err error, who *Who) *status.Status {
	if s, ok := status.FromError(err); ok && err != nil {
		return s // already a status, e.g. from a panic recovered below
	}
	switch {
	case errors.Is(err, context.Canceled):
		return withDetail(codes.Canceled, hmcerr.New(hmcerr.Unavailable, 503, 0, "The request was canceled."), who)
	case errors.Is(err, context.DeadlineExceeded):
		return withDetail(codes.DeadlineExceeded, hmcerr.New(hmcerr.Unavailable, 503, 0, "The request deadline passed."), who)
	}
	e := hmcerr.As(err)
	return withDetail(grpcCode(e.Kind), e, who)
}

func grpcCode(k hmcerr.Kind) codes.Code {
	switch k {
	case hmcerr.NotFound:
		return codes.NotFound
	case hmcerr.InvalidArgument:
		return codes.InvalidArgument
	case hmcerr.FailedPrecondition:
		return codes.FailedPrecondition
	case hmcerr.Unauthenticated:
		return codes.Unauthenticated
	case hmcerr.PermissionDenied:
		return codes.PermissionDenied
	case hmcerr.Unavailable:
		return codes.Unavailable
	case hmcerr.TooLarge:
		return codes.ResourceExhausted
	case hmcerr.Unimplemented:
		return codes.Unimplemented
	default:
		return codes.Internal
	}
}

func withDetail(code codes.Code, e *hmcerr.Error, who *Who) *status.Status {
	s := status.New(code, e.Message)
	detail := &bcpiiv1.HmcError{
		HttpStatus: int32(e.HTTPStatus),
		Reason:     int32(e.Reason),
		Message:    e.Message,
	}
	if who != nil {
		detail.RequestAuthenticatedAs = &who.Name
		if who.BCPii {
			bcpiiErr := !e.Backend
			detail.BcpiiError = &bcpiiErr
		}
	}
	d, err := s.WithDetails(detail)
	if err != nil {
		return s
	}
	return d
}

// HMCDetail returns the HmcError detail of a status error, if it has one.
func HMCDetail(err error) (*bcpiiv1.HmcError, bool) {
	s, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	for _, d := range s.Details() {
		if h, ok := d.(*bcpiiv1.HmcError); ok {
			return h, true
		}
	}
	return nil, false
}
