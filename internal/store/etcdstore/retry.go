package etcdstore

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// While a majority of the cluster lives, callers should not see a member
// die: the client's own retries cover single reads (Range), but not
// transactions, which it never repeats once sent. The store repeats its
// transactions itself after a transient failure, within the request's
// time. A read repeats as it is. A guarded write that failed in transit
// may have committed all the same, so its repetition, finding its guard
// no longer holds, looks at the record: when it is as that write left it,
// the write is taken as done (see create and commit).

// The waits between tries: the first, doubling up to the last.
const (
	firstRetryWait = 20 * time.Millisecond
	maxRetryWait   = 400 * time.Millisecond
)

// transient reports whether err is a refusal for a passing reason: the
// member asked died or lost its connection, has no leader, or is electing
// one. etcd answers all of these Unavailable.
func transient(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable
	}
	return status.Code(err) == codes.Unavailable
}

// again runs try until it succeeds or fails for good, trying again after
// each transient failure until rctx, the request's context, ends; then
// the last failure is the answer. It returns how many tries it made.
func (s *Store) again(rctx context.Context, try func() error) (int, error) {
	wait := firstRetryWait
	for n := 1; ; n++ {
		err := try()
		if err == nil || !transient(err) || rctx.Err() != nil {
			return n, err
		}
		t := s.clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-rctx.Done():
			t.Stop()
			return n, err
		}
		wait = min(2*wait, maxRetryWait)
	}
}
