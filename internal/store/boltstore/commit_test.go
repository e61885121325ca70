package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Concurrent writes share transactions, yet each gets its own answer: a
// duplicate create fails alone, every other write commits, and all of it is
// in the file when it is opened again.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	owner := jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
	const n = 200
	writeTxs := func() int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
	before := writeTxs()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Every tenth job is created twice at once.
			k := i
			if i%10 == 1 {
				k = i - 1
			}
			id := fmt.Sprintf("00000000-0000-4000-8000-%012d", k)
			_, errs[i] = s.Create(ctx, jobs.Job{ID: id, Owner: owner, Status: jobs.Running, Created: time.Unix(1, 0)})
		})
	}
	wg.Wait()
	exists := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, jobs.ErrExists):
			exists++
		case err != nil:
			t.Errorf("create %d: %v", i, err)
		}
	}
	if exists != n/10 {
		t.Errorf("%d creates found their job existing, want %d", exists, n/10)
	}
	writes := writeTxs() - before
	t.Logf("%d creates in %d write transactions", n, writes)
	if writes >= n {
		t.Errorf("%d concurrent creates took %d write transactions: none were shared", n, writes)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	page, err := s.List(ctx, jobs.ListQuery{Owner: owner, Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != n-n/10 {
		t.Errorf("%d jobs after reopening, want %d", len(page), n-n/10)
	}
}

// The cache never answers for a job a commit changed after the read that
// filled it, nor shows a job to another owner.
func TestCacheFollowsCommits(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	owner := jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
	other := jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP2"}
	j, err := s.Create(ctx, jobs.Job{ID: "00000000-0000-4000-8000-000000000001", Owner: owner, Status: jobs.Running, Created: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetOwned(ctx, other, j.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("another owner's read: %v, want ErrNoJob", err)
	}
	id := j.ID
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.GetOwned(ctx, owner, id); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range 200 {
		j.StatusCode = i
		if j, err = s.Update(ctx, j); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, j.ID)
		if err != nil || got.Revision != j.Revision || got.StatusCode != i {
			t.Fatalf("after update %d: %+v, %v; want revision %d", i, got, err, j.Revision)
		}
	}
	close(stop)
	wg.Wait()
	if err := s.Delete(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, j.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Fatalf("after delete: %v, want ErrNoJob", err)
	}
}

// Writes of one job in one group see each other: of concurrent updates
// from the same revision exactly one succeeds, whether the job was read
// from the cache or from the transaction.
func TestGroupCommitSameJob(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	owner := jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
	for round := range 20 {
		j, err := s.Create(ctx, jobs.Job{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", round), Owner: owner, Status: jobs.Running, Created: time.Unix(1, 0)})
		if err != nil {
			t.Fatal(err)
		}
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				u := j
				u.StatusCode = i + 1
				_, errs[i] = s.Update(ctx, u)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, jobs.ErrConflict):
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if won != 1 || got.Revision <= j.Revision || got.StatusCode == 0 {
			t.Fatalf("round %d: %d updates won, job now %+v", round, won, got)
		}
	}
}
