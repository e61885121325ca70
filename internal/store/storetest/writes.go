package storetest

// The suite's tests of writes: Create, Get, Update and Delete.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

func testCreate(t *testing.T, s jobs.Store) {
	in := newJob(alice)
	c := mustCreate(t, s, in)
	if c.Revision <= 0 || c.CreateRevision <= 0 {
		t.Fatalf("Create returned Revision %d, CreateRevision %d; want both positive", c.Revision, c.CreateRevision)
	}
	if c.Revision != c.CreateRevision {
		t.Errorf("Create returned Revision %d, CreateRevision %d; want them equal", c.Revision, c.CreateRevision)
	}
	want := in
	want.Revision, want.CreateRevision = c.Revision, c.CreateRevision
	checkJob(t, "Create result", c, want)
	checkJob(t, "Get after Create", mustGet(t, s, in.ID), want)

	prev := c.CreateRevision
	for i := range 20 {
		c := mustCreate(t, s, newJob(alice))
		if c.CreateRevision <= prev {
			t.Errorf("create %d: CreateRevision %d, not above the previous %d", i, c.CreateRevision, prev)
		}
		if c.Revision != c.CreateRevision {
			t.Errorf("create %d: Revision %d, CreateRevision %d; want them equal", i, c.Revision, c.CreateRevision)
		}
		prev = c.CreateRevision
	}
}

func testCreateAssignsRevisions(t *testing.T, s jobs.Store) {
	a := newJob(alice)
	a.Revision, a.CreateRevision = 1<<40, 1<<40
	ca := mustCreate(t, s, a)
	b := newJob(alice)
	b.Revision, b.CreateRevision = 1, 1
	cb := mustCreate(t, s, b)
	if cb.CreateRevision <= ca.CreateRevision {
		t.Errorf("CreateRevision %d of the later create is not above %d: the store kept revisions given by the caller", cb.CreateRevision, ca.CreateRevision)
	}
	checkJob(t, "Get", mustGet(t, s, a.ID), ca)
	checkJob(t, "Get", mustGet(t, s, b.ID), cb)
}

// GetOwned answers another owner's job exactly as no job at all.
func testGetOwned(t *testing.T, s jobs.Store) {
	mine := mustCreate(t, s, newJob(alice))
	theirs := mustCreate(t, s, newJob(bob))
	got, err := s.GetOwned(t.Context(), alice, mine.ID)
	if err != nil {
		t.Fatalf("GetOwned of the owner's job: %v", err)
	}
	checkJob(t, "GetOwned", got, mine)
	for name, id := range map[string]string{"another owner's": theirs.ID, "a missing": jobs.NewID()} {
		if j, err := s.GetOwned(t.Context(), alice, id); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("GetOwned of %s job: %+v %v, want ErrNoJob", name, j, err)
		}
	}
	// The same name under another kind is another owner.
	impostor := jobs.Owner{Kind: jobs.PartitionOwner, Name: alice.Name}
	if _, err := s.GetOwned(t.Context(), impostor, mine.ID); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("GetOwned by a partition named like the user: %v, want ErrNoJob", err)
	}
}

// Every write, to any job of any owner, gets a revision above all before
// it: completion cursors compare revisions across jobs.
func testRevisionsOneCounter(t *testing.T, s jobs.Store) {
	a := mustCreate(t, s, newJob(alice))
	b := mustCreate(t, s, newJob(bob))
	if b.Revision <= a.Revision {
		t.Fatalf("create of another owner's job got revision %d, not above %d", b.Revision, a.Revision)
	}
	a.Operation = "changed"
	ua, err := s.Update(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	if ua.Revision <= b.Revision {
		t.Fatalf("update got revision %d, not above the later create's %d", ua.Revision, b.Revision)
	}
	if err := s.Delete(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	c := mustCreate(t, s, newJob(lpar))
	if c.Revision <= ua.Revision {
		t.Fatalf("create after update and delete got revision %d, not above %d", c.Revision, ua.Revision)
	}
}

func testCreateExists(t *testing.T, s jobs.Store) {
	orig := mustCreate(t, s, newJob(alice))

	dup := newJob(bob)
	dup.ID = orig.ID
	dup.Operation = "other"
	if _, err := s.Create(t.Context(), dup); !errors.Is(err, jobs.ErrExists) {
		t.Fatalf("Create of a taken id: %v, want ErrExists", err)
	}
	checkJob(t, "Get after failed Create", mustGet(t, s, orig.ID), orig)
	if js := all(t, s, bob); len(js) != 0 {
		t.Errorf("failed Create left jobs %v in the other owner's list", ids(js))
	}
	checkJobs(t, "List after failed Create", all(t, s, alice), []jobs.Job{orig})

	// The failed create must not have disturbed the revision order.
	next := mustCreate(t, s, newJob(alice))
	if next.CreateRevision <= orig.CreateRevision {
		t.Errorf("CreateRevision %d after a failed Create is not above %d", next.CreateRevision, orig.CreateRevision)
	}
}

func testCreateSameIDConcurrently(t *testing.T, s jobs.Store) {
	const n = 16
	id := jobs.NewID()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		wins    []jobs.Job
		otherEr []error
	)
	for i := range n {
		wg.Go(func() {
			j := newJob(alice)
			j.ID = id
			j.Operation = fmt.Sprint(i)
			c, err := s.Create(t.Context(), j)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, c)
			case !errors.Is(err, jobs.ErrExists):
				otherEr = append(otherEr, err)
			}
		})
	}
	await(t, "concurrent creates", wg.Wait)
	for _, err := range otherEr {
		t.Errorf("Create: %v, want nil or ErrExists", err)
	}
	if len(wins) != 1 {
		t.Fatalf("%d concurrent creates of one id succeeded, want exactly 1", len(wins))
	}
	checkJob(t, "Get", mustGet(t, s, id), wins[0])
	checkJobs(t, "List", all(t, s, alice), wins)
}

func testCreateConcurrently(t *testing.T, s jobs.Store) {
	const workers, each = 8, 10
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []jobs.Job
	)
	for range workers {
		wg.Go(func() {
			for range each {
				c, err := s.Create(t.Context(), newJob(alice))
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				mu.Lock()
				created = append(created, c)
				mu.Unlock()
			}
		})
	}
	await(t, "concurrent creates", wg.Wait)
	if t.Failed() {
		return
	}
	slices.SortFunc(created, func(a, b jobs.Job) int { return cmpInt(a.CreateRevision, b.CreateRevision) })
	for i := 1; i < len(created); i++ {
		if created[i].CreateRevision == created[i-1].CreateRevision {
			t.Errorf("jobs %s and %s share CreateRevision %d", created[i-1].ID, created[i].ID, created[i].CreateRevision)
		}
	}
	checkJobs(t, "List after concurrent creates", all(t, s, alice), created)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testGetMissing(t *testing.T, s jobs.Store) {
	checkMissing(t, s, jobs.NewID())
	checkMissing(t, s, "")
	mustCreate(t, s, newJob(alice))
	checkMissing(t, s, jobs.NewID())
}

func testUpdate(t *testing.T, s jobs.Store) {
	c := mustCreate(t, s, newJob(alice))
	other := mustCreate(t, s, newJob(alice))

	next := c
	next.Status = jobs.CancelPending
	next.Operation = "changed"
	u := mustUpdate(t, s, next)
	if u.Revision <= c.Revision {
		t.Errorf("Update returned Revision %d, not above the previous %d", u.Revision, c.Revision)
	}
	want := next
	want.Revision = u.Revision
	checkJob(t, "Update result", u, want)
	checkJob(t, "Get after Update", mustGet(t, s, c.ID), want)
	checkJob(t, "Get of the other job", mustGet(t, s, other.ID), other)

	final := ended(u, jobs.Canceled, base.Add(time.Minute))
	final.Results = json.RawMessage(`{"done":true}`)
	f := mustUpdate(t, s, final)
	if f.Revision <= u.Revision {
		t.Errorf("second Update returned Revision %d, not above %d", f.Revision, u.Revision)
	}
	want = final
	want.Revision = f.Revision
	checkJob(t, "second Update result", f, want)
	checkJob(t, "Get after second Update", mustGet(t, s, c.ID), want)
}

func testUpdateConflict(t *testing.T, s jobs.Store) {
	c := mustCreate(t, s, newJob(alice))
	u := c
	u.Operation = "first"
	u = mustUpdate(t, s, u)

	for _, rev := range []int64{c.Revision, u.Revision + 1, u.Revision + 1000, 0, -1} {
		stale := c
		stale.Revision = rev
		stale.Operation = "stale"
		if _, err := s.Update(t.Context(), stale); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("Update with revision %d (stored %d): %v, want ErrConflict", rev, u.Revision, err)
		}
	}
	checkJob(t, "Get after conflicting updates", mustGet(t, s, c.ID), u)

	// The current revision still works.
	u.Operation = "second"
	u2 := mustUpdate(t, s, u)
	if u2.Revision <= u.Revision {
		t.Errorf("Update returned Revision %d, not above %d", u2.Revision, u.Revision)
	}
}

func testUpdateMissing(t *testing.T, s jobs.Store) {
	never := newJob(alice)
	never.Revision, never.CreateRevision = 1, 1
	if _, err := s.Update(t.Context(), never); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("Update of a job never created: %v, want ErrNoJob", err)
	}
	checkMissing(t, s, never.ID)
	if js := all(t, s, alice); len(js) != 0 {
		t.Errorf("Update of a missing job listed %v", ids(js))
	}

	c := mustCreate(t, s, newJob(alice))
	mustDelete(t, s, c)
	for _, rev := range []int64{c.Revision, c.Revision + 1, 0} {
		if _, err := s.Update(t.Context(), withRevision(c, rev)); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("Update of a deleted job with revision %d: %v, want ErrNoJob", rev, err)
		}
	}
	checkMissing(t, s, c.ID)
}

func testUpdateKeepsCreateRevision(t *testing.T, s jobs.Store) {
	first := mustCreate(t, s, newJob(alice))
	c := mustCreate(t, s, newJob(alice))
	last := mustCreate(t, s, newJob(alice))

	j := c
	j.CreateRevision = 1 << 40
	j.Operation = "changed"
	u := mustUpdate(t, s, j)
	if u.CreateRevision != c.CreateRevision {
		t.Errorf("Update returned CreateRevision %d, want the stored %d", u.CreateRevision, c.CreateRevision)
	}
	got := mustGet(t, s, c.ID)
	if got.CreateRevision != c.CreateRevision {
		t.Errorf("Get after Update: CreateRevision %d, want %d", got.CreateRevision, c.CreateRevision)
	}
	want := j
	want.Revision, want.CreateRevision = u.Revision, c.CreateRevision
	checkJobs(t, "List after Update", all(t, s, alice), []jobs.Job{first, want, last})
}

func testDelete(t *testing.T, s jobs.Store) {
	keep := mustCreate(t, s, ended(newJob(alice), jobs.Complete, base))
	c := mustCreate(t, s, newJob(alice))
	c = mustUpdate(t, s, ended(c, jobs.Complete, base))

	mustDelete(t, s, c)
	checkMissing(t, s, c.ID)
	if err := s.Delete(t.Context(), c); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("second Delete: %v, want ErrNoJob", err)
	}
	checkJobs(t, "List after Delete", all(t, s, alice), []jobs.Job{keep})
	checkJobs(t, "EndedBefore after Delete", mustEndedBefore(t, s, base.Add(time.Hour), 100), []jobs.Job{keep})
	checkJob(t, "Get of the other job", mustGet(t, s, keep.ID), keep)
}

func testDeleteConflict(t *testing.T, s jobs.Store) {
	c := mustCreate(t, s, newJob(alice))
	u := c
	u.Status = jobs.CancelPending
	u = mustUpdate(t, s, u)
	for _, rev := range []int64{c.Revision, u.Revision + 1, 0} {
		if err := s.Delete(t.Context(), withRevision(c, rev)); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("Delete with revision %d (stored %d): %v, want ErrConflict", rev, u.Revision, err)
		}
	}
	checkJob(t, "Get after conflicting deletes", mustGet(t, s, c.ID), u)
	checkJobs(t, "List after conflicting deletes", all(t, s, alice), []jobs.Job{u})
	mustDelete(t, s, u)
	checkMissing(t, s, c.ID)
}

func testDeleteMissing(t *testing.T, s jobs.Store) {
	for _, rev := range []int64{1, 0} { // etcd compares a missing key's revision as 0
		if err := s.Delete(t.Context(), withRevision(newJob(alice), rev)); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("Delete at revision %d of a job never created: %v, want ErrNoJob", rev, err)
		}
	}
	c := mustCreate(t, s, newJob(alice))
	if err := s.Delete(t.Context(), withRevision(newJob(alice), c.Revision)); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("Delete of a job never created: %v, want ErrNoJob", err)
	}
	checkJob(t, "Get of the other job", mustGet(t, s, c.ID), c)
}

func testCreateAfterDelete(t *testing.T, s jobs.Store) {
	c := mustCreate(t, s, newJob(alice))
	mid := mustCreate(t, s, newJob(alice))
	mustDelete(t, s, c)

	again := newJob(alice)
	again.ID = c.ID
	again.Operation = "again"
	a := mustCreate(t, s, again)
	if a.CreateRevision <= mid.CreateRevision {
		t.Errorf("re-created job has CreateRevision %d, not above %d", a.CreateRevision, mid.CreateRevision)
	}
	checkJob(t, "Get of the re-created job", mustGet(t, s, c.ID), a)
	checkJobs(t, "List", all(t, s, alice), []jobs.Job{mid, a})
}
