package etcdstore

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
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

// The waits between tries: the first, doubling up to the last. A try
// ends after attemptTimeout, within the request's time: a member that
// lost its leader while it held the request would otherwise hold it past
// the request's time, while another member could answer.
const (
	firstRetryWait = 20 * time.Millisecond
	maxRetryWait   = 400 * time.Millisecond
	attemptTimeout = 1500 * time.Millisecond
)

// errAttempt is the cause of a try that ran out of its time.
var errAttempt = errors.New("etcdstore: a try ran out of its time")

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
// the last failure is the answer. Each try gets a context of its own,
// which asks for a member with a leader (one without refuses at once) and
// ends after attemptTimeout. It returns how many tries it made.
func (s *Store) again(rctx context.Context, try func(ctx context.Context) error) (int, error) {
	wait := firstRetryWait
	for n := 1; ; n++ {
		actx, cancel := context.WithCancelCause(clientv3.WithRequireLeader(rctx))
		limit := s.clock.AfterFunc(attemptTimeout, func() { cancel(errAttempt) })
		err := try(actx)
		limit.Stop()
		timedOut := errors.Is(context.Cause(actx), errAttempt)
		cancel(nil)
		if err == nil || rctx.Err() != nil || !(transient(err) || timedOut) {
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
