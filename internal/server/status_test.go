package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii/rpctypes"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		err    error
		code   codes.Code
		status int32
		reason int32
	}{
		{jobs.ErrNotFound, codes.NotFound, 404, 1},
		{fmt.Errorf("wrapped: %w", jobs.ErrNotFound), codes.NotFound, 404, 1},
		{jobs.ErrNotCancelable, codes.FailedPrecondition, 404, 4},
		{jobs.ErrNotEnded, codes.FailedPrecondition, 409, 40},
		{jobs.ErrEnded, codes.FailedPrecondition, 409, 41},
		{jobs.ErrCancelPending, codes.FailedPrecondition, 409, 42},
		{hmcerr.ErrBadTargetName, codes.InvalidArgument, 400, 2},
		{hmcerr.ErrInvalidField.WithMessage("x"), codes.InvalidArgument, 400, 7},
		{hmcerr.ErrUnavailable.WithCause(errors.New("dial tcp: refused")), codes.Unavailable, 503, 1},
		{hmcerr.ErrSessionNotValid, codes.Unauthenticated, 403, 5},
		{hmcerr.ErrNotPermitted, codes.PermissionDenied, 403, 1},
		{hmcerr.ErrTooLarge.WithMessage("big"), codes.ResourceExhausted, 413, 0},
		{hmcerr.ErrMethodNotAllowed, codes.Unimplemented, 405, 0},
		{errors.New("disk on fire at /var/lib/x"), codes.Internal, 500, 0},
		{context.DeadlineExceeded, codes.DeadlineExceeded, 503, 0},
		{fmt.Errorf("op: %w", context.Canceled), codes.Canceled, 503, 0},
	}
	for _, tc := range tests {
		st := toStatus(tc.err, nil, "")
		if st.Code() != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err, st.Code(), tc.code)
		}
		d, ok := rpctypes.HMCDetail(st.Err())
		if !ok {
			t.Errorf("%v: no HMC detail", tc.err)
			continue
		}
		if d.HttpStatus != tc.status || d.Reason != tc.reason {
			t.Errorf("%v: HMC %d.%d, want %d.%d", tc.err, d.HttpStatus, d.Reason, tc.status, tc.reason)
		}
		if strings.Contains(st.Message(), "fire") || strings.Contains(d.Message, "refused") || strings.Contains(d.Message, "dial") {
			t.Errorf("%v: internal cause leaked: %q / %q", tc.err, st.Message(), d.Message)
		}
	}
	// A status made here passes through untouched.
	made := withDetail(codes.Aborted, hmcerr.ErrInternal.WithMessage("as is"), nil).Err()
	if got := toStatus(made, nil, ""); got.Code() != codes.Aborted || got.Message() != "as is" {
		t.Errorf("status changed: %v", got)
	}
}

// A store error that wraps a dependency's gRPC status, as an etcd client
// returns one, is an internal failure: the caller gets 500 with the HMC
// detail and the request id, and none of the dependency's text.
func TestToStatusHidesDependencyStatus(t *testing.T) {
	dep := status.Error(codes.Unavailable, "etcdserver: leader changed at 10.0.0.7:2379")
	for _, err := range []error{
		fmt.Errorf("store: get job: %w", dep),
		hmcerr.As(fmt.Errorf("store: %w", dep)),
		dep,
		status.Error(codes.InvalidArgument, "grpc: secret internal text"),
	} {
		st := toStatus(err, nil, "0123456789abcdef")
		if st.Code() != codes.Internal {
			t.Errorf("%v: code %v, want Internal", err, st.Code())
		}
		d, ok := rpctypes.HMCDetail(st.Err())
		if !ok {
			t.Fatalf("%v: no HMC detail", err)
		}
		if d.HttpStatus != 500 || d.Reason != 0 {
			t.Errorf("%v: HMC %d.%d, want 500.0", err, d.HttpStatus, d.Reason)
		}
		for _, text := range []string{st.Message(), d.Message} {
			if strings.Contains(text, "etcd") || strings.Contains(text, "10.0.0.7") || strings.Contains(text, "secret") {
				t.Errorf("%v: internal text reached the caller: %q", err, text)
			}
			if !strings.Contains(text, "0123456789abcdef") {
				t.Errorf("%v: message %q does not name the request id", err, text)
			}
		}
	}
}
