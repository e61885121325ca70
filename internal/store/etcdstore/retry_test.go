package etcdstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// losingKV is a real etcd client's KV whose transactions commit, and then,
// while lose is above zero, answer as a connection that broke after the
// request went out: etcd applied the write, and the store is not told.
type losingKV struct {
	clientv3.KV
	lose atomic.Int64
}

func (l *losingKV) Txn(ctx context.Context) clientv3.Txn { return &losingTxn{Txn: l.KV.Txn(ctx), l: l} }

type losingTxn struct {
	clientv3.Txn
	l *losingKV
}

func (t *losingTxn) If(cs ...clientv3.Cmp) clientv3.Txn   { t.Txn = t.Txn.If(cs...); return t }
func (t *losingTxn) Then(ops ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Then(ops...); return t }
func (t *losingTxn) Else(ops ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Else(ops...); return t }

func (t *losingTxn) Commit() (*clientv3.TxnResponse, error) {
	resp, err := t.Txn.Commit()
	if err == nil && t.l.lose.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "error reading from server: EOF")
	}
	return resp, err
}

// TestLostAnswers: a write whose answer is lost after etcd applied it is
// tried again, and the store tells, from the record, that the first try
// committed: the create, the update and the delete each succeed once,
// where answering "exists", "conflict" or "no job" would tell the caller
// its own write failed.
func TestLostAnswers(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	kv := &losingKV{KV: cli.KV}
	cli.KV = kv
	st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: "/lost/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	j := jobs.Job{ID: "00000000-0000-4000-8000-000000000001", Owner: jobs.Owner{Kind: jobs.UserOwner, Name: "alice"},
		Operation: "POST /api/test", Status: jobs.Running, Created: time.Now().UTC()}

	kv.lose.Store(1)
	created, err := st.Create(ctx, j)
	if err != nil || created.Revision == 0 {
		t.Fatalf("create whose answer was lost: %+v, %v", created, err)
	}
	got, err := st.Get(ctx, j.ID)
	if err != nil || got.Revision != created.Revision {
		t.Fatalf("get after it: %+v, %v; want revision %d", got, err, created.Revision)
	}

	kv.lose.Store(1)
	next := got
	next.Status, next.StatusCode, next.Ended = jobs.Complete, 200, time.Now().UTC()
	updated, err := st.Update(ctx, next)
	if err != nil || updated.Revision <= got.Revision {
		t.Fatalf("update whose answer was lost: %+v, %v", updated, err)
	}
	if got, err = st.Get(ctx, j.ID); err != nil || got.Revision != updated.Revision || got.Status != jobs.Complete {
		t.Fatalf("get after it: %+v, %v; want complete at revision %d", got, err, updated.Revision)
	}

	kv.lose.Store(1)
	if err := st.Delete(ctx, updated); err != nil {
		t.Fatalf("delete whose answer was lost: %v", err)
	}
	if _, err := st.Get(ctx, j.ID); err == nil {
		t.Fatal("the job is still there after its delete")
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("store inconsistent: %v", err)
	}

	// A conflict stays a conflict: another writer's record is not taken
	// for this one's.
	other := j
	other.ID = "00000000-0000-4000-8000-000000000002"
	first, err := st.Create(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	stale := first
	stale.Status, stale.StatusCode, stale.Ended = jobs.Complete, 500, time.Now().UTC()
	winner := first
	winner.Status, winner.StatusCode, winner.Ended = jobs.Complete, 200, time.Now().UTC()
	if _, err := st.Update(ctx, winner); err != nil {
		t.Fatal(err)
	}
	kv.lose.Store(1)
	if _, err := st.Update(ctx, stale); err == nil {
		t.Fatal("a stale update succeeded")
	}
}
