package etcdstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// spyKV passes a real etcd client's transactions on. It adds up the keys
// their range reads returned, and, while lose is set, leaves out of each
// transaction the moves from n/ to r/ of the jobs whose ids end in
// "-lost": as a gateway that stopped before it moved them leaves them.
type spyKV struct {
	clientv3.KV
	prefix   string
	returned atomic.Int64
	lose     atomic.Bool
}

func (s *spyKV) Txn(ctx context.Context) clientv3.Txn { return &spyTxn{Txn: s.KV.Txn(ctx), kv: s} }

type spyTxn struct {
	clientv3.Txn
	kv *spyKV
}

func (t *spyTxn) If(cs ...clientv3.Cmp) clientv3.Txn { t.Txn = t.Txn.If(cs...); return t }
func (t *spyTxn) Else(ops ...clientv3.Op) clientv3.Txn {
	t.Txn = t.Txn.Else(ops...)
	return t
}

func (t *spyTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	var kept []clientv3.Op
	for _, op := range ops {
		if op.IsTxn() && t.kv.lose.Load() {
			_, then, _ := op.Txn()
			k := string(then[0].KeyBytes())
			if then[0].IsDelete() && strings.HasPrefix(k, t.kv.prefix+"n/") && strings.HasSuffix(k, "-lost") {
				continue
			}
		}
		kept = append(kept, op)
	}
	t.Txn = t.Txn.Then(kept...)
	return t
}

func (t *spyTxn) Commit() (*clientv3.TxnResponse, error) {
	resp, err := t.Txn.Commit()
	if err == nil {
		for _, r := range resp.Responses {
			if rr := r.GetResponseRange(); rr != nil {
				t.kv.returned.Add(int64(len(rr.Kvs)))
			}
		}
	}
	return resp, err
}

// moved waits until no entry waits in n/ but those left there.
func moved(t *testing.T, kv *spyKV, left int64) {
	t.Helper()
	eventually(t, "the moves from n/", func() bool {
		resp, err := kv.KV.Get(t.Context(), kv.prefix+"n/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == left
	})
}

func spyStore(t *testing.T, prefix string) (*etcdstore.Store, *spyKV) {
	t.Helper()
	cli := etcdtest.Start(t).Client(t)
	kv := &spyKV{KV: cli.KV, prefix: prefix}
	cli.KV = kv
	st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(context.Background()); err != nil {
			t.Errorf("store inconsistent: %v", err)
		}
	})
	return st, kv
}

// A page of an owner's jobs reads that page from etcd, not the owner's
// other jobs: with 400 jobs, a List of 10 gets back 10 index entries and
// 10 jobs, wherever it starts.
func TestListReadsOnlyItsPage(t *testing.T) {
	st, kv := spyStore(t, "/page/")
	owner := jobs.Owner{Kind: "partition", Name: "LP1"}
	var made []jobs.Job
	for i := range 400 {
		made = append(made, running(t, st, owner, fmt.Sprintf("job-%03d", i)))
	}
	running(t, st, jobs.Owner{Kind: "partition", Name: "LP2"}, "other")
	moved(t, kv, 0)
	for _, from := range []int{0, 150, 395} {
		after := int64(0)
		if from > 0 {
			after = made[from-1].CreateRevision
		}
		kv.returned.Store(0)
		got, err := st.List(t.Context(), jobs.ListQuery{Owner: owner, After: after, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		want := made[from:min(from+10, len(made))]
		if len(got) != len(want) {
			t.Fatalf("List from %d: %d jobs, want %d", from, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Fatalf("List from %d: [%d] is %s, want %s", from, i, got[i].ID, want[i].ID)
			}
		}
		if n := kv.returned.Load(); n > int64(2*len(want)) {
			t.Errorf("List of %d from %d: etcd returned %d keys, want at most %d", len(want), from, n, 2*len(want))
		}
	}
}

// A job whose Create stopped before its entry moved from n/ to r/ is
// listed all the same, in its place, page by page and by status; its
// delete and its owner's change take the entry with them.
func TestListFindsEntriesLeftInNew(t *testing.T) {
	st, kv := spyStore(t, "/lost/")
	kv.lose.Store(true)
	alice := jobs.Owner{Kind: "partition", Name: "LP1"}
	bob := jobs.Owner{Kind: "partition", Name: "LP2"}
	var made []jobs.Job
	for i := range 30 {
		id := fmt.Sprintf("job-%02d", i)
		if i%3 == 0 {
			id += "-lost"
		}
		made = append(made, running(t, st, alice, id))
	}
	all := func(owner jobs.Owner, status jobs.Status, page int) []string {
		t.Helper()
		var out []string
		for after := int64(0); ; {
			got, err := st.List(t.Context(), jobs.ListQuery{Owner: owner, Status: status, After: after, Limit: page})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range got {
				out = append(out, j.ID)
				after = j.CreateRevision
			}
			if len(got) < page {
				return out
			}
		}
	}
	ids := func(js []jobs.Job) []string {
		out := make([]string, len(js))
		for i, j := range js {
			out[i] = j.ID
		}
		return out
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
		}
	}
	moved(t, kv, 10) // those of the lost
	for _, page := range []int{1, 4, 7, 30, 100} {
		check(fmt.Sprintf("List in pages of %d", page), all(alice, "", page), ids(made))
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}

	// Cancel every other job: a status filter pages past the others.
	var canceled []jobs.Job
	for i, j := range made {
		if i%2 == 0 {
			j.Status = jobs.Canceled
			j.Ended = j.Created
			canceled = append(canceled, update(t, st, j))
		}
	}
	check("List of the canceled, in pages of 4", all(alice, jobs.Canceled, 4), ids(canceled))

	// Give a lost one to bob and delete another.
	moved := made[3]
	moved.Owner = bob
	moved = update(t, st, moved)
	if err := st.Delete(t.Context(), made[9].ID, made[9].Revision); err != nil {
		t.Fatal(err)
	}
	check("List of bob", all(bob, "", 10), []string{moved.ID})
	rest := ids(append(append(append([]jobs.Job{}, made[:3]...), made[4:9]...), made[10:]...))
	check("List of alice after the move and the delete", all(alice, "", 5), rest)
}

// A prefix written in layout 1, without the creation-order index, is
// brought to layout 2 when it is opened: its lists are the same, each
// job's entry is in r/, and the layout version says 2.
func TestOpenRanksLayoutOne(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	const prefix = "/old/"
	st, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	alice := jobs.Owner{Kind: "partition", Name: "LP1"}
	bob := jobs.Owner{Kind: "partition", Name: "LP2"}
	var made []jobs.Job
	for i := range 250 {
		made = append(made, running(t, st, []jobs.Owner{alice, bob}[i%2], fmt.Sprintf("job-%03d", i)))
	}
	moved := made[0]
	moved.Owner = bob
	made[0] = update(t, st, moved)
	before := map[jobs.Owner][]jobs.Job{}
	for _, o := range []jobs.Owner{alice, bob} {
		before[o] = list(t, st, o)
	}
	// Layout 1: no r/, no n/.
	for _, dir := range []string{"r/", "n/"} {
		if _, err := cli.Delete(t.Context(), prefix+dir, clientv3.WithPrefix()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(t.Context(), prefix+"meta/format", "1"); err != nil {
		t.Fatal(err)
	}
	if got := list(t, st, alice); len(got) != 0 {
		t.Fatalf("without its index, List found %d jobs", len(got))
	}

	reopened, err := etcdstore.New(t.Context(), etcdstore.Config{Client: cli, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := reopened.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	for o, want := range before {
		got := list(t, reopened, o)
		if len(got) != len(want) {
			t.Fatalf("List of %v after the change of layout: %d jobs, want %d", o, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i].ID || got[i].Owner != o {
				t.Fatalf("List of %v [%d] = %s, want %s", o, i, got[i].ID, want[i].ID)
			}
		}
	}
	resp, err := cli.Get(t.Context(), prefix+"meta/format")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("layout version %v, want 2", resp.Kvs)
	}
}

func list(t *testing.T, st *etcdstore.Store, o jobs.Owner) []jobs.Job {
	t.Helper()
	got, err := st.List(t.Context(), jobs.ListQuery{Owner: o, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func update(t *testing.T, st *etcdstore.Store, j jobs.Job) jobs.Job {
	t.Helper()
	u, err := st.Update(t.Context(), j)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
