// Package hmcerr is the error type of the gateway's domain: every failure a
// caller can see carries the HTTP status and reason code the HMC would answer
// for it. The gRPC server turns these into statuses in one place; the REST
// side renders those statuses as HMC error bodies without deciding anew.
package hmcerr

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the class of a failure. It decides the gRPC code; the HMC status
// and reason are carried beside it.
type Kind int

// The kinds of failure.
const (
	Internal           Kind = iota // a fault of the gateway itself
	NotFound                       // no such resource, or not one the caller may see
	InvalidArgument                // the request is malformed
	FailedPrecondition             // the resource is in the wrong state for the request
	Unauthenticated                // no valid session or identity
	PermissionDenied               // authenticated, but not allowed
	Unavailable                    // the backend cannot be reached now
	TooLarge                       // the request is larger than allowed
	Unimplemented                  // the method is not valid for the resource
)

func (k Kind) String() string {
	switch k {
	case NotFound:
		return "not found"
	case InvalidArgument:
		return "invalid argument"
	case FailedPrecondition:
		return "failed precondition"
	case Unauthenticated:
		return "unauthenticated"
	case PermissionDenied:
		return "permission denied"
	case Unavailable:
		return "unavailable"
	case TooLarge:
		return "too large"
	case Unimplemented:
		return "unimplemented"
	default:
		return "internal"
	}
}

// Error is a failure with its HMC status and reason code.
//
// Message is shown to callers and must never hold secrets or internal
// detail; Cause is for the log only.
type Error struct {
	Kind       Kind
	HTTPStatus int
	Reason     int
	Message    string
	Cause      error
	// Backend is set when the SE or HMC behind the gateway raised the
	// error rather than the gateway itself (bcpii-error: false).
	Backend bool
}

// Error describes the failure, cause included; it is meant for logs.
func (e *Error) Error() string {
	if e.Cause == nil {
		return fmt.Sprintf("%d.%d: %s", e.HTTPStatus, e.Reason, e.Message)
	}
	// "... cannot be reached: dial tcp ...", not "reached.: dial".
	return fmt.Sprintf("%d.%d: %s: %s", e.HTTPStatus, e.Reason, strings.TrimRight(e.Message, "."), e.Cause)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is reports whether target is an *Error with the same HMC status and reason,
// so errors.Is(err, SomeSentinel) matches however err was built or wrapped.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.HTTPStatus == e.HTTPStatus && t.Reason == e.Reason
}

// WithCause returns a copy of e that records cause for the log.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// WithMessage returns a copy of e with another caller-visible message.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// As returns the *Error in err's chain. Anything else, including nil's
// absence of one, is an internal error (500) that keeps err as its cause.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal.WithCause(err)
}
