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
// the status: an internal failure answers 500 naming only requestID, the
// id its log line carries, even when its cause wraps a gRPC status of a
// dependency (an etcd client answers with those). who, when known, fills
// request-authenticated-as and bcpii-error.
func toStatus(err error, who *Who, requestID string) *status.Status {
	// Only a status made here (one with the HMC detail, such as a
	// recovered panic's) passes as it is; one from below, bare or
	// wrapped, is a cause like any other.
	if s, ok := madeHere(err); ok {
		return s
	}
	switch {
	case errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled:
		return withDetail(codes.Canceled, hmcerr.ErrStopping.WithMessage("The request was canceled."), who)
	case errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded:
		return withDetail(codes.DeadlineExceeded, hmcerr.ErrStopping.WithMessage("The request deadline passed."), who)
	}
	e := hmcerr.As(err)
	if e.Kind == hmcerr.Internal {
		e = internalError(requestID)
	}
	return withDetail(grpcCode(e.Kind), e, who)
}

// internalError is what a caller learns of an internal failure: that it
// happened, and the request id to find its log line by.
func internalError(requestID string) *hmcerr.Error {
	if requestID == "" {
		return hmcerr.ErrInternal
	}
	return hmcerr.ErrInternal.WithMessage("An internal error occurred (request id %s).", requestID)
}

// madeHere returns err's status if err is one that toStatus or the
// recovery interceptor made: a status, not wrapped, with the HMC detail.
func madeHere(err error) (*status.Status, bool) {
	se, ok := err.(interface{ GRPCStatus() *status.Status })
	if !ok {
		return nil, false
	}
	s := se.GRPCStatus()
	for _, d := range s.Details() {
		if _, ok := d.(*bcpiiv1.HmcError); ok {
			return s, true
		}
	}
	return nil, false
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
		name := who.Principal.String()
		detail.RequestAuthenticatedAs = &name
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
