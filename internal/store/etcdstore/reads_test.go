package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// laggingKV passes a real etcd client's transactions on, counting the
// reads of a fixed revision by how they were asked, and, while lag is
// set, moves each serializable one's revision far ahead, so that etcd
// refuses it as a member that has not applied the revision yet does.
type laggingKV struct {
	clientv3.KV
	lag                        atomic.Bool
	serializable, linearizable atomic.Int64
}

func (l *laggingKV) Txn(ctx context.Context) clientv3.Txn {
	return &laggingTxn{Txn: l.KV.Txn(ctx), kv: l}
}

type laggingTxn struct {
	clientv3.Txn
	kv *laggingKV
}

func (t *laggingTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	out := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		out[i] = op
		switch {
		case !op.IsGet() || op.Rev() == 0:
		case !op.IsSerializable():
			t.kv.linearizable.Add(1)
		default:
			t.kv.serializable.Add(1)
			if t.kv.lag.Load() {
				out[i] = clientv3.OpGet(string(op.KeyBytes()), clientv3.WithRev(op.Rev()+1_000_000), clientv3.WithSerializable())
			}
		}
	}
	t.Txn = t.Txn.Then(out...)
	return t
}

// A page of a List is read at the revision of the owner's index, without
// a linearizable wait; a member behind that revision refuses, and the
// page is then read linearizably: the answer is the same.
func TestListPageReadAtRevision(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	kv := &laggingKV{KV: cli.KV}
	cli.KV = kv
	st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: "/lag/", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	owner := jobs.Owner{Kind: "partition", Name: "LP1"}
	var want []string
	for i := range 5 {
		want = append(want, running(t, st, owner, fmt.Sprintf("job-%d", i)).ID)
	}
	list := func() {
		t.Helper()
		got, err := st.List(t.Context(), jobs.ListQuery{Owner: owner, Limit: 10})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("List: %d jobs, want %d", len(got), len(want))
		}
		for i, j := range got {
			if j.ID != want[i] || j.Owner != owner || j.Status != jobs.Running {
				t.Fatalf("List[%d] = %s of %v, %s; want %s of %v, running", i, j.ID, j.Owner, j.Status, want[i], owner)
			}
		}
	}

	list()
	if s, l := kv.serializable.Load(), kv.linearizable.Load(); s != int64(len(want)) || l != 0 {
		t.Fatalf("a page read %d jobs serializably and %d linearizably, want %d and 0", s, l, len(want))
	}
	kv.lag.Store(true)
	list()
	if s, l := kv.serializable.Load(), kv.linearizable.Load(); s != 2*int64(len(want)) || l != int64(len(want)) {
		t.Fatalf("behind the revision, a page read %d jobs serializably and %d linearizably, want %d and %d", s-int64(len(want)), l, len(want), len(want))
	}
}

// laggingGets passes a real etcd client's reads on, counting the gets of
// keys under prefix (no fixed revision) by how they were asked, and
// answering each serializable one at revision behind, when set, as a
// member that has not applied the later revisions answers.
type laggingGets struct {
	clientv3.KV
	prefix                     string
	behind                     atomic.Int64
	serializable, linearizable atomic.Int64
}

func (l *laggingGets) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	op := clientv3.OpGet(key, opts...)
	if !strings.HasPrefix(key, l.prefix) || op.Rev() != 0 {
		return l.KV.Get(ctx, key, opts...)
	}
	if !op.IsSerializable() {
		l.linearizable.Add(1)
		return l.KV.Get(ctx, key, opts...)
	}
	l.serializable.Add(1)
	if rev := l.behind.Load(); rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	return l.KV.Get(ctx, key, opts...)
}

// An update reads the job it replaces serializably, its revision guard
// making a linearizable wait needless; a member that answers an older
// copy, or none, has the job read linearizably, and the write is made all
// the same. A stale revision is still refused. A delete reads nothing:
// its transaction compares the revision of the job it is given (see
// Store.Delete).
func TestWriteReadsSerializably(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	kv := &laggingGets{KV: cli.KV, prefix: "/lagw/j/"}
	cli.KV = kv
	st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: "/lagw/", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	owner := jobs.Owner{Kind: "partition", Name: "LP1"}
	reads := func(what string, wantS, wantL int64) {
		t.Helper()
		if s, l := kv.serializable.Swap(0), kv.linearizable.Swap(0); s != wantS || l != wantL {
			t.Errorf("%s: %d serializable and %d linearizable reads of the job, want %d and %d", what, s, l, wantS, wantL)
		}
	}
	j := running(t, st, owner, "job-w")
	reads("create", 0, 0)
	// update writes the next step of j through a member behind at
	// revision behind (0: not behind), and checks the reads it made.
	update := func(what string, behind int64, wantL int64) {
		t.Helper()
		kv.behind.Store(behind)
		j.Results = fmt.Appendf(nil, `{"step":%d}`, j.Revision)
		if j, err = st.Update(t.Context(), j); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		reads(what, 1, wantL)
	}
	update("update", 0, 0)
	// A member one update behind: its copy is older than the caller's.
	update("update through a member behind", j.Revision-1, 1)

	stale := j
	stale.Revision--
	if _, err := st.Update(t.Context(), stale); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("update at a stale revision: %v, want a conflict", err)
	}
	reads("update at a stale revision", 1, 1)

	// A member that has not seen the job at all.
	update("update through a member that has not seen the job", j.CreateRevision-1, 1)
	if err := st.Delete(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	reads("delete", 0, 0)
	kv.behind.Store(0)
	if _, err := st.Get(t.Context(), j.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("get after the delete: %v, want no job", err)
	}
}

// countingGets passes a real etcd client's reads on and adds up the keys
// etcd counted for the range reads under prefix: etcd walks every key of
// a range, whatever its limit, to count them.
type countingGets struct {
	clientv3.KV
	prefix         string
	counted, reads atomic.Int64
}

func (c *countingGets) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	resp, err := c.KV.Get(ctx, key, opts...)
	if err == nil && strings.HasPrefix(key, c.prefix) {
		c.counted.Add(resp.Count)
		c.reads.Add(1)
	}
	return resp, err
}

// countingStore returns a store under prefix on an etcd server of its
// own, whose client counts the reads of its end-time index.
func countingStore(t *testing.T, prefix string) (*etcdstore.Store, *countingGets) {
	t.Helper()
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	kv := &countingGets{KV: cli.KV, prefix: prefix + "e/"}
	cli.KV = kv
	st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st, kv
}

// Paging through 2,000 expired jobs, EndedBefore asks etcd for ranges
// that hold about two pages, not for everything up to the cutoff: after
// the first page, no page's reads count more than four pages' keys.
func TestEndedBeforeReadsBoundedRanges(t *testing.T) {
	st, kv := countingStore(t, "/spans/")
	const n, limit = 2000, 100
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				ended := base.Add(time.Duration(i) * time.Millisecond)
				j := jobs.Job{ID: fmt.Sprintf("job-%04d", i), Owner: jobs.Owner{Kind: "partition", Name: "LP1"},
					Operation: "POST /api/test", Status: jobs.Complete, Created: ended, Ended: ended}
				if _, err := st.Create(context.Background(), j); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	cutoff := base.Add(n * time.Millisecond)
	after := jobs.EndKey{}
	for page := 0; page*limit < n; page++ {
		kv.counted.Store(0)
		got, err := st.EndedBefore(t.Context(), cutoff, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != limit || got[0].ID != fmt.Sprintf("job-%04d", page*limit) || got[limit-1].ID != fmt.Sprintf("job-%04d", page*limit+limit-1) {
			t.Fatalf("page %d: %d jobs, not jobs %d to %d in order", page, len(got), page*limit, page*limit+limit-1)
		}
		if counted := kv.counted.Load(); page > 0 && counted > 4*limit {
			t.Errorf("page %d: etcd counted %d keys, want at most %d", page, counted, 4*limit)
		}
		after = jobs.EndKeyOf(got[limit-1])
	}
	if got, err := st.EndedBefore(t.Context(), cutoff, after, limit); err != nil || len(got) != 0 {
		t.Fatalf("after the last page: %d jobs, %v", len(got), err)
	}
}

// From a job that ended two thousand years before the next, EndedBefore
// reaches the next in a few dozen reads: its spans widen fourfold, and
// then to the cutoff, never wrapping around.
func TestEndedBeforeWidensToTheCutoff(t *testing.T) {
	st, kv := countingStore(t, "/widen/")
	var made []jobs.Job
	for i, ended := range []time.Time{time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} {
		j, err := st.Create(t.Context(), jobs.Job{ID: fmt.Sprintf("job-%d", i), Owner: jobs.Owner{Kind: "partition", Name: "LP1"},
			Operation: "POST /api/test", Status: jobs.Complete, Created: ended, Ended: ended})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, j)
	}
	got, err := st.EndedBefore(t.Context(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), jobs.EndKeyOf(made[0]), 10)
	if err != nil || len(got) != 1 || got[0].ID != made[1].ID {
		t.Fatalf("EndedBefore after the first job: %v, %v; want %s", got, err, made[1].ID)
	}
	if n := kv.reads.Load(); n > 40 {
		t.Errorf("EndedBefore took %d reads, want at most 40", n)
	}
}
