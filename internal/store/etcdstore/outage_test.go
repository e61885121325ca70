package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/etcdstore/etcdtest"
)

// registryOn opens a store as cfg says and a registry over it, closed
// when the test ends.
func registryOn(t *testing.T, cfg etcdstore.Config) (*etcdstore.Store, *jobs.Registry) {
	t.Helper()
	st, err := etcdstore.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := jobs.New(jobs.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return st, reg
}

// TestOutage stops the etcd server under a registry: every query answers
// 503.1 without etcd's words, within the request timeout; once the server
// is back the same client serves again by itself, the jobs written before
// are all there, and a watch started before the outage sees the changes
// made after it.
func TestOutage(t *testing.T) {
	srv := etcdtest.Start(t)
	st, reg := registryOn(t, etcdstore.Config{Client: srv.Client(t), Prefix: "/outage/", RequestTimeout: 500 * time.Millisecond})
	owner := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	me := jobs.Caller{Owner: owner}
	var before []jobs.Job
	for range 5 {
		j, err := reg.Create(t.Context(), jobs.Spec{Owner: owner, Operation: "POST /api/test", Cancelable: true})
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, j)
	}
	watchCtx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	changes := st.Watch(watchCtx)

	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	checks := map[string]func() error{
		"get":    func() error { _, err := reg.Get(ctx, me, before[0].ID); return err },
		"list":   func() error { _, _, err := reg.List(ctx, me, jobs.ListOptions{Limit: 10}); return err },
		"cancel": func() error { _, err := reg.Cancel(ctx, me, before[1].ID); return err },
		"create": func() error {
			_, err := reg.Create(ctx, jobs.Spec{Owner: owner, Operation: "POST /api/test"})
			return err
		},
		"delete": func() error { return reg.Delete(ctx, me, before[2].ID) },
		"sweep":  func() error { _, err := reg.Sweep(ctx, 10); return err },
	}
	for name, f := range checks {
		err := f()
		e := hmcerr.As(err)
		if !errors.Is(err, hmcerr.ErrUnavailable) || e.HTTPStatus != 503 || e.Reason != 1 {
			t.Errorf("%s with etcd down: %v, want 503.1", name, err)
		}
		// The gRPC server decides "canceled" and "deadline" by the error
		// chain before the HMC error: nothing of etcd's may be in it.
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
			status.Code(err) == codes.Canceled || status.Code(err) == codes.DeadlineExceeded {
			t.Errorf("%s with etcd down: %v wraps a context error or a status", name, err)
		}
		if strings.Contains(strings.ToLower(e.Message), "etcd") || strings.Contains(e.Message, "context") {
			t.Errorf("%s with etcd down: the caller's message %q speaks of the store's internals", name, e.Message)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the requests outlived their bound")
	}

	srv.Restart()
	ctx2, cancel2 := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel2()
	// The client reconnects by itself: the first requests may still see
	// the old connection fail, but it comes back without help.
	var page []jobs.Job
	var err error
	for {
		page, _, err = reg.List(ctx2, me, jobs.ListOptions{Limit: 100})
		if err == nil || ctx2.Err() != nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("List after the restart: %v", err)
	}
	if len(page) != len(before) {
		t.Fatalf("after the outage %d jobs are listed, want %d", len(page), len(before))
	}
	for i := range page {
		if page[i].ID != before[i].ID || page[i].Revision != before[i].Revision {
			t.Errorf("job %d after the outage: %s rev %d, want %s rev %d", i, page[i].ID, page[i].Revision, before[i].ID, before[i].Revision)
		}
	}
	canceled, err := reg.Cancel(ctx2, me, before[3].ID)
	if err != nil {
		t.Fatalf("Cancel after the restart: %v", err)
	}
	select {
	case c := <-changes:
		if c.Job.ID != canceled.ID || c.Job.Revision != canceled.Revision {
			t.Errorf("the watch from before the outage delivered %s rev %d, want %s rev %d", c.Job.ID, c.Job.Revision, canceled.ID, canceled.Revision)
		}
	case <-ctx2.Done():
		t.Fatal("the watch from before the outage delivered nothing after it")
	}
}

// TestQuotaReached fills an etcd server of 1 MiB with another tenant's
// keys: a create past the space quota answers 503.2 (the store is full)
// without etcd's words, and the jobs written before still answer. Once
// space is reclaimed as an operator does (delete, compact, defragment,
// disarm the alarm), the same store accepts creates again.
func TestQuotaReached(t *testing.T) {
	srv := etcdtest.StartWithQuota(t, 1<<20)
	cli := srv.Client(t)
	_, reg := registryOn(t, etcdstore.Config{Client: cli, Prefix: "/quota/"})
	owner := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	spec := jobs.Spec{Owner: owner, Operation: "POST /api/test"}
	var stored []jobs.Job
	for range 3 {
		j, err := reg.Create(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, j)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	filler := strings.Repeat("x", 64<<10)
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("64 MiB written under a quota of 1 MiB")
		}
		if _, err := cli.Put(ctx, fmt.Sprintf("/other/%d", i), filler); err != nil {
			if !errors.Is(err, rpctypes.ErrNoSpace) {
				t.Fatalf("filling: %v", err)
			}
			break
		}
	}

	_, err := reg.Create(ctx, spec)
	e := hmcerr.As(err)
	if !errors.Is(err, jobs.ErrStoreFull) || e.HTTPStatus != 503 || e.Reason != 2 {
		t.Fatalf("create past the quota: %v, want 503.2", err)
	}
	if strings.Contains(strings.ToLower(e.Message), "etcd") || !strings.Contains(err.Error(), "database space exceeded") {
		t.Errorf("create past the quota: message %q must not speak of etcd; the log's text %q must", e.Message, err)
	}
	for _, j := range stored {
		if _, err := reg.Get(ctx, jobs.Caller{Owner: owner}, j.ID); err != nil {
			t.Fatalf("get %s with the quota reached: %v", j.ID, err)
		}
	}

	resp, err := cli.Delete(ctx, "/other/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Defragment(ctx, srv.Endpoint()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create(ctx, spec); err != nil {
		t.Fatalf("create once space was reclaimed: %v", err)
	}
}
