package etcdstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// countingKV counts the transactions a real etcd client's KV runs.
type countingKV struct {
	clientv3.KV
	txns atomic.Int64
}

func (c *countingKV) Txn(ctx context.Context) clientv3.Txn {
	c.txns.Add(1)
	return c.KV.Txn(ctx)
}

// replicaStore opens a store on a client of its own under prefix, as a
// replica does, with the job cache running; it returns the store and the
// count of its transactions.
func replicaStore(t *testing.T, srv *etcdtest.Server, prefix string) (*etcdstore.Store, *countingKV) {
	t.Helper()
	cli := srv.Client(t)
	kv := &countingKV{KV: cli.KV}
	cli.KV = kv
	st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: prefix, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st.CacheJobs(t.Context())
	for deadline := time.Now().Add(10 * time.Second); !st.CacheReady(); {
		if time.Now().After(deadline) {
			t.Fatal("the job cache's watch did not start within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	return st, kv
}

// running creates a running job of owner's with the id at st.
func running(t testing.TB, st *etcdstore.Store, owner jobs.Owner, id string) jobs.Job {
	t.Helper()
	j, err := st.Create(t.Context(), jobs.Job{ID: id, Owner: owner, Operation: "POST /api/test", Status: jobs.Running, Created: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// eventually waits, within 10 s, until f holds.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !f(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestJobCache: replica B answers a job it read before without etcd;
// another owner's id costs an etcd read, as a missing one does, and
// answers no job; a change or delete made at replica A reaches B's answers
// through the watch; B's own write is answered at once.
func TestJobCache(t *testing.T) {
	srv := etcdtest.Start(t)
	a, _ := replicaStore(t, srv, "/cache/")
	b, reads := replicaStore(t, srv, "/cache/")
	ctx := t.Context()
	alice, bob := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}, jobs.Owner{Kind: jobs.UserOwner, Name: "bob"}
	j := running(t, a, alice, "00000000-0000-4000-8000-00000000000a")

	if _, err := b.GetOwned(ctx, alice, j.ID); err != nil {
		t.Fatal(err)
	}
	before := reads.txns.Load()
	for range 100 {
		if got, err := b.GetOwned(ctx, alice, j.ID); err != nil || got.Revision != j.Revision {
			t.Fatalf("cached get: %+v %v", got, err)
		}
	}
	if n := reads.txns.Load() - before; n != 0 {
		t.Errorf("100 gets of a cached job read etcd %d times", n)
	}
	if _, err := b.GetOwned(ctx, bob, j.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("bob's get of alice's job: %v, want no job", err)
	}
	if n := reads.txns.Load() - before; n != 1 {
		t.Errorf("bob's get of alice's cached job read etcd %d times, want 1, as for a missing job", n)
	}

	// A change at A reaches B.
	next := j
	next.Status, next.StatusCode, next.Ended = jobs.Complete, 200, time.Now().UTC()
	done, err := a.Update(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the end written at A reaching B", func() bool {
		got, err := b.GetOwned(ctx, alice, j.ID)
		return err == nil && got.Revision == done.Revision && got.Status == jobs.Complete
	})

	// B's own write is answered at once.
	other := running(t, b, alice, "00000000-0000-4000-8000-00000000000b")
	if _, err := b.GetOwned(ctx, alice, other.ID); err != nil {
		t.Fatal(err)
	}
	canceling := other
	canceling.Status = jobs.CancelPending
	written, err := b.Update(ctx, canceling)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetOwned(ctx, alice, other.ID); err != nil || got.Revision != written.Revision {
		t.Errorf("B's get right after its own update: %+v %v, want revision %d", got, err, written.Revision)
	}

	// A delete at A reaches B.
	if err := a.Delete(ctx, done); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete at A reaching B", func() bool {
		_, err := b.GetOwned(ctx, alice, j.ID)
		return errors.Is(err, jobs.ErrNoJob)
	})
}

// TestJobCacheNeverGoesBack: while replica A moves a job through many
// revisions, readers at replica B never get an answer older than one B
// gave before.
func TestJobCacheNeverGoesBack(t *testing.T) {
	srv := etcdtest.Start(t)
	a, _ := replicaStore(t, srv, "/back/")
	b, _ := replicaStore(t, srv, "/back/")
	ctx := t.Context()
	alice := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	j := running(t, a, alice, "00000000-0000-4000-8000-00000000000c")
	id := j.ID
	var last atomic.Int64 // the newest revision B has answered
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := last.Load()
				got, err := b.GetOwned(ctx, alice, id)
				if err != nil {
					t.Errorf("get: %v", err)
					return
				}
				if got.Revision < floor {
					t.Errorf("B answered revision %d after it had answered %d", got.Revision, floor)
					return
				}
				for cur := last.Load(); got.Revision > cur && !last.CompareAndSwap(cur, got.Revision); cur = last.Load() {
				}
			}
		})
	}
	for i := range 200 {
		j.Results = []byte{byte(i)}
		var err error
		if j, err = a.Update(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("B answered up to revision %d of %d", last.Load(), j.Revision)
}

// TestJobCacheCutOff: with etcd gone, a replica stops answering from its
// cache within the time it trusts it (1.5 s) and answers 503.1, as for a
// job it never read; once etcd is back it serves again.
func TestJobCacheCutOff(t *testing.T) {
	srv := etcdtest.Start(t)
	b, _ := replicaStore(t, srv, "/cut/")
	ctx := t.Context()
	alice := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	j := running(t, b, alice, "00000000-0000-4000-8000-00000000000d")
	if _, err := b.GetOwned(ctx, alice, j.ID); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	cut := time.Now()
	for {
		// Timed before the call: a stall after it is not the cache's.
		asked := time.Since(cut)
		_, err := b.GetOwned(ctx, alice, j.ID)
		if err == nil {
			if asked > 2*time.Second {
				t.Fatalf("the cache still answers %v after etcd went", asked)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !errors.Is(err, etcdstore.ErrUnavailable) {
			t.Fatalf("with etcd gone: %v, want 503.1", err)
		}
		break
	}
	t.Logf("the cache answered for %v after etcd went", time.Since(cut).Round(time.Millisecond))
	srv.Restart()
	eventually(t, "the cache serving again", func() bool {
		_, err := b.GetOwned(ctx, alice, j.ID)
		return err == nil && b.CacheReady()
	})
}

// heldWatcher passes a real etcd client's watches on, but holds back what
// the first one delivers (the job cache's, which CacheJobs starts first)
// while a gate is set, until the gate is closed.
type heldWatcher struct {
	clientv3.Watcher
	gate  atomic.Pointer[chan struct{}]
	first atomic.Bool
}

func (h *heldWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	in := h.Watcher.Watch(ctx, key, opts...)
	if !h.first.CompareAndSwap(false, true) {
		return in
	}
	out := make(chan clientv3.WatchResponse)
	go func() {
		defer close(out)
		for resp := range in {
			if g := h.gate.Load(); g != nil {
				select {
				case <-*g:
				case <-ctx.Done():
					return
				}
			}
			select {
			case out <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// A change the store's feed has delivered is never answered older by the
// job cache, even while the cache's own watch has not told it yet: a
// replica that told a waiter a job was canceled then refused its delete
// as "not ended".
func TestJobCacheNotBehindFeed(t *testing.T) {
	srv := etcdtest.Start(t)
	a, _ := replicaStore(t, srv, "/behind/")
	cli := srv.Client(t)
	w := &heldWatcher{Watcher: cli.Watcher}
	cli.Watcher = w
	c, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: "/behind/", RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.CacheJobs(t.Context())
	eventually(t, "the job cache's watch", c.CacheReady)
	alice := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	j := running(t, a, alice, "00000000-0000-4000-8000-00000000000c")
	if got, err := c.GetOwned(t.Context(), alice, j.ID); err != nil || got.Status != jobs.Running {
		t.Fatalf("first get: %+v %v", got, err)
	}
	feed := c.Watch(t.Context())

	gate := make(chan struct{})
	w.gate.Store(&gate)
	defer close(gate)
	canceled := j
	canceled.Status, canceled.Ended = jobs.Canceled, time.Now().UTC()
	canceled, err = a.Update(t.Context(), canceled)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-feed:
		if ch.Job.ID != j.ID || ch.Job.Status != jobs.Canceled {
			t.Fatalf("the feed delivered %+v", ch)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the feed delivered nothing within 10 s")
	}
	if got, err := c.GetOwned(t.Context(), alice, j.ID); err != nil || got.Revision != canceled.Revision {
		t.Fatalf("get after the feed delivered the cancel: %s at revision %d (%v), want canceled at %d", got.Status, got.Revision, err, canceled.Revision)
	}
}
