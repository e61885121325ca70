package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
		{hmcerr.New(hmcerr.Unauthenticated, 403, 5, "session"), codes.Unauthenticated, 403, 5},
		{hmcerr.New(hmcerr.PermissionDenied, 403, 1, "no"), codes.PermissionDenied, 403, 1},
		{hmcerr.New(hmcerr.TooLarge, 413, 0, "big"), codes.ResourceExhausted, 413, 0},
		{hmcerr.ErrMethodNotAllowed, codes.Unimplemented, 405, 0},
		{errors.New("disk on fire at /var/lib/x"), codes.Internal, 500, 0},
		{context.DeadlineExceeded, codes.DeadlineExceeded, 503, 0},
		{fmt.Errorf("op: %w", context.Canceled), codes.Canceled, 503, 0},
	}
	for _, tc := range tests {
		st := toStatus(tc.err, nil)
		if st.Code() != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err, st.Code(), tc.code)
		}
		d, ok := HMCDetail(st.Err())
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
	// A status passes through untouched.
	in := status.New(codes.Aborted, "as is").Err()
	if got := toStatus(in, nil); got.Code() != codes.Aborted || got.Message() != "as is" {
		t.Errorf("status changed: %v", got)
	}
}
