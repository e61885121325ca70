// Package storetest is the conformance suite for jobs.Store: every
// implementation runs Run against fresh, empty stores and must pass all of
// it.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Timeout bounds every wait for the store: a change that has not arrived by
// then is taken as lost, a write that has not returned as blocked.
const Timeout = 10 * time.Second

// Run runs the suite. open returns a new, empty store for one subtest and
// arranges its own clean-up with t.Cleanup. Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) jobs.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s jobs.Store)
	}{
		{"Create", testCreate},
		{"CreateAssignsRevisions", testCreateAssignsRevisions},
		{"RevisionsOneCounter", testRevisionsOneCounter},
		{"CreateExists", testCreateExists},
		{"CreateSameIDConcurrently", testCreateSameIDConcurrently},
		{"CreateConcurrently", testCreateConcurrently},
		{"GetMissing", testGetMissing},
		{"GetOwned", testGetOwned},
		{"Update", testUpdate},
		{"UpdateConflict", testUpdateConflict},
		{"UpdateMissing", testUpdateMissing},
		{"UpdateKeepsCreateRevision", testUpdateKeepsCreateRevision},
		{"Delete", testDelete},
		{"DeleteConflict", testDeleteConflict},
		{"DeleteMissing", testDeleteMissing},
		{"CreateAfterDelete", testCreateAfterDelete},
		{"ListOwners", testListOwners},
		{"ListPaging", testListPaging},
		{"ListStatus", testListStatus},
		{"ListCurrent", testListCurrent},
		{"ListOwnerChange", testListOwnerChange},
		{"EndedBefore", testEndedBefore},
		{"EndedBeforeFollowsWrites", testEndedBeforeFollowsWrites},
		{"Watch", testWatch},
		{"WatchConcurrentWriters", testWatchConcurrentWriters},
		{"WatchUnreadDoesNotBlock", testWatchUnreadDoesNotBlock},
		{"WatchMany", testWatchMany},
		{"WatchClose", testWatchClose},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Results", testResults},
		{"Times", testTimes},
		{"Fields", testFields},
		{"Isolation", testIsolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.f(t, s)
		})
	}
}

var (
	alice = jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	bob   = jobs.Owner{Kind: jobs.UserOwner, Name: "bob"}
	lpar  = jobs.Owner{Kind: jobs.PartitionOwner, Name: "LPAR1"}
)

// base is an arbitrary instant with nanoseconds, in UTC.
var base = time.Date(2031, 3, 14, 15, 9, 26, 535897932, time.UTC)

func newJob(o jobs.Owner) jobs.Job {
	return jobs.Job{
		ID:         jobs.NewID(),
		Owner:      o,
		Operation:  "POST /api/test",
		Cancelable: true,
		Status:     jobs.Running,
		Created:    base,
	}
}

func ended(j jobs.Job, st jobs.Status, at time.Time) jobs.Job {
	j.Status = st
	j.StatusCode = 200
	j.Ended = at
	return j
}

// Diff describes how got differs from want, or is empty when they are the
// same job: times are compared with Equal, Results byte for byte, and every
// other field, revisions included, with ==.
func Diff(got, want jobs.Job) string {
	var d []string
	add := func(field string, g, w any) {
		d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w))
	}
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Owner != want.Owner {
		add("Owner", got.Owner, want.Owner)
	}
	if got.Target != want.Target {
		add("Target", got.Target, want.Target)
	}
	if got.Operation != want.Operation {
		add("Operation", got.Operation, want.Operation)
	}
	if got.Cancelable != want.Cancelable {
		add("Cancelable", got.Cancelable, want.Cancelable)
	}
	if got.Status != want.Status {
		add("Status", got.Status, want.Status)
	}
	if got.StatusCode != want.StatusCode {
		add("StatusCode", got.StatusCode, want.StatusCode)
	}
	if got.ReasonCode != want.ReasonCode {
		add("ReasonCode", got.ReasonCode, want.ReasonCode)
	}
	if !bytes.Equal(got.Results, want.Results) {
		add("Results", fmt.Sprintf("%q", got.Results), fmt.Sprintf("%q", want.Results))
	}
	if !got.Created.Equal(want.Created) {
		add("Created", got.Created, want.Created)
	}
	if !got.Ended.Equal(want.Ended) {
		add("Ended", got.Ended, want.Ended)
	}
	if got.Revision != want.Revision {
		add("Revision", got.Revision, want.Revision)
	}
	if got.CreateRevision != want.CreateRevision {
		add("CreateRevision", got.CreateRevision, want.CreateRevision)
	}
	return strings.Join(d, "; ")
}

func checkJob(t *testing.T, what string, got, want jobs.Job) {
	t.Helper()
	if d := Diff(got, want); d != "" {
		t.Errorf("%s: job %s differs: %s", what, want.ID, d)
	}
}

// checkJobs compares a result list with the expected one, job by job.
func checkJobs(t *testing.T, what string, got, want []jobs.Job) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d jobs %v, want %d %v", what, len(got), ids(got), len(want), ids(want))
		return
	}
	for i := range got {
		if d := Diff(got[i], want[i]); d != "" {
			t.Errorf("%s: job %d (%s) differs: %s", what, i, want[i].ID, d)
		}
	}
}

func ids(js []jobs.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

func mustCreate(t *testing.T, s jobs.Store, j jobs.Job) jobs.Job {
	t.Helper()
	c, err := s.Create(t.Context(), j)
	if err != nil {
		t.Fatalf("Create(%s): %v", j.ID, err)
	}
	return c
}

func mustUpdate(t *testing.T, s jobs.Store, j jobs.Job) jobs.Job {
	t.Helper()
	u, err := s.Update(t.Context(), j)
	if err != nil {
		t.Fatalf("Update(%s, revision %d): %v", j.ID, j.Revision, err)
	}
	return u
}

func mustDelete(t *testing.T, s jobs.Store, id string, rev int64) {
	t.Helper()
	if err := s.Delete(t.Context(), id, rev); err != nil {
		t.Fatalf("Delete(%s, revision %d): %v", id, rev, err)
	}
}

func mustGet(t *testing.T, s jobs.Store, id string) jobs.Job {
	t.Helper()
	j, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return j
}

func mustList(t *testing.T, s jobs.Store, q jobs.ListQuery) []jobs.Job {
	t.Helper()
	js, err := s.List(t.Context(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return js
}

func mustEndedBefore(t *testing.T, s jobs.Store, at time.Time, limit int) []jobs.Job {
	t.Helper()
	js, err := s.EndedBefore(t.Context(), at, limit)
	if err != nil {
		t.Fatalf("EndedBefore(%v, %d): %v", at, limit, err)
	}
	return js
}

func checkMissing(t *testing.T, s jobs.Store, id string) {
	t.Helper()
	if j, err := s.Get(t.Context(), id); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("Get(%s) = %+v, %v; want ErrNoJob", id, j, err)
	}
}

// all lists every job of o.
func all(t *testing.T, s jobs.Store, o jobs.Owner) []jobs.Job {
	t.Helper()
	return mustList(t, s, jobs.ListQuery{Owner: o, Limit: 1 << 20})
}

// watch starts a watch that is cancelled, and drained until closed, when
// the test ends.
func watch(t *testing.T, s jobs.Store) <-chan jobs.Change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Watch(ctx)
	if ch == nil {
		cancel()
		t.Fatal("Watch returned a nil channel")
	}
	t.Cleanup(func() {
		cancel()
		waitClosed(t, ch)
	})
	return ch
}

func recv(t *testing.T, ch <-chan jobs.Change) jobs.Change {
	t.Helper()
	bound, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed while its context is live")
		}
		return c
	case <-bound.Done():
		t.Fatalf("no change arrived within %v", Timeout)
	}
	panic("unreachable")
}

func waitClosed(t *testing.T, ch <-chan jobs.Change) {
	t.Helper()
	bound, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-bound.Done():
			t.Errorf("watch channel not closed %v after its context ended", Timeout)
			return
		}
	}
}

func checkChange(t *testing.T, what string, got jobs.Change, want jobs.Job, deleted bool) {
	t.Helper()
	if got.Deleted != deleted {
		t.Errorf("%s: change of job %s has Deleted %v, want %v", what, got.Job.ID, got.Deleted, deleted)
	}
	checkJob(t, what, got.Job, want)
}

// await waits for f, run in its own goroutine, to return.
func await(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	bound, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	select {
	case <-done:
	case <-bound.Done():
		t.Fatalf("%s did not finish within %v", what, Timeout)
	}
}

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
	if err := s.Delete(t.Context(), b.ID, b.Revision); err != nil {
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
	mustDelete(t, s, c.ID, c.Revision)
	for _, rev := range []int64{c.Revision, c.Revision + 1, 0} {
		j := c
		j.Revision = rev
		if _, err := s.Update(t.Context(), j); !errors.Is(err, jobs.ErrNoJob) {
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

	mustDelete(t, s, c.ID, c.Revision)
	checkMissing(t, s, c.ID)
	if err := s.Delete(t.Context(), c.ID, c.Revision); !errors.Is(err, jobs.ErrNoJob) {
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
		if err := s.Delete(t.Context(), c.ID, rev); !errors.Is(err, jobs.ErrConflict) {
			t.Errorf("Delete with revision %d (stored %d): %v, want ErrConflict", rev, u.Revision, err)
		}
	}
	checkJob(t, "Get after conflicting deletes", mustGet(t, s, c.ID), u)
	checkJobs(t, "List after conflicting deletes", all(t, s, alice), []jobs.Job{u})
	mustDelete(t, s, c.ID, u.Revision)
	checkMissing(t, s, c.ID)
}

func testDeleteMissing(t *testing.T, s jobs.Store) {
	if err := s.Delete(t.Context(), jobs.NewID(), 1); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("Delete of a job never created: %v, want ErrNoJob", err)
	}
	c := mustCreate(t, s, newJob(alice))
	if err := s.Delete(t.Context(), jobs.NewID(), c.Revision); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("Delete of a job never created: %v, want ErrNoJob", err)
	}
	checkJob(t, "Get of the other job", mustGet(t, s, c.ID), c)
}

func testCreateAfterDelete(t *testing.T, s jobs.Store) {
	c := mustCreate(t, s, newJob(alice))
	mid := mustCreate(t, s, newJob(alice))
	mustDelete(t, s, c.ID, c.Revision)

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

func testListOwners(t *testing.T, s jobs.Store) {
	// Owners whose names or keys are prefixes of one another.
	owners := []jobs.Owner{
		{Kind: jobs.UserOwner, Name: "a"},
		{Kind: jobs.UserOwner, Name: "ab"},
		{Kind: jobs.UserOwner, Name: "a:b"},
		{Kind: jobs.UserOwner, Name: "A"},
		{Kind: jobs.UserOwner, Name: ""},
		{Kind: jobs.PartitionOwner, Name: "a"},
		{Kind: jobs.PartitionOwner, Name: "LPAR1"},
	}
	want := make(map[jobs.Owner][]jobs.Job)
	for i := range 5 {
		for k, o := range owners {
			if k%2 == 1 && i%2 == 1 {
				continue // vary the counts
			}
			want[o] = append(want[o], mustCreate(t, s, newJob(o)))
		}
	}
	for _, o := range owners {
		got := all(t, s, o)
		for _, j := range got {
			if j.Owner != o {
				t.Errorf("List(%+v) returned job %s of %+v", o, j.ID, j.Owner)
			}
		}
		checkJobs(t, fmt.Sprintf("List(%+v)", o), got, want[o])
	}
	if js := all(t, s, jobs.Owner{Kind: jobs.UserOwner, Name: "nobody"}); len(js) != 0 {
		t.Errorf("List of an owner without jobs returned %v", ids(js))
	}
}

func testListPaging(t *testing.T, s jobs.Store) {
	var want []jobs.Job
	for i := range 10 {
		want = append(want, mustCreate(t, s, newJob(alice)))
		if i%3 == 0 {
			mustCreate(t, s, newJob(bob))
		}
	}
	for _, limit := range []int{1, 3, 4, 10, 11} {
		var got []jobs.Job
		after := int64(0)
		for range 20 {
			page := mustList(t, s, jobs.ListQuery{Owner: alice, After: after, Limit: limit})
			if len(page) > limit {
				t.Fatalf("List with Limit %d returned %d jobs", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].CreateRevision
		}
		checkJobs(t, fmt.Sprintf("paging with Limit %d", limit), got, want)
	}

	// After is a position, not a job that has to exist.
	mustDelete(t, s, want[4].ID, want[4].Revision)
	checkJobs(t, "List after a deleted job", mustList(t, s, jobs.ListQuery{Owner: alice, After: want[4].CreateRevision, Limit: 2}), want[5:7])
	checkJobs(t, "List after a revision between jobs", mustList(t, s, jobs.ListQuery{Owner: alice, After: want[3].CreateRevision, Limit: 2}), want[5:7])
	if js := mustList(t, s, jobs.ListQuery{Owner: alice, After: want[9].CreateRevision, Limit: 5}); len(js) != 0 {
		t.Errorf("List after the last job returned %v", ids(js))
	}
	if js := mustList(t, s, jobs.ListQuery{Owner: alice, After: 1 << 62, Limit: 5}); len(js) != 0 {
		t.Errorf("List after a huge revision returned %v", ids(js))
	}
}

func testListStatus(t *testing.T, s jobs.Store) {
	statuses := []jobs.Status{jobs.Running, jobs.Complete, jobs.CancelPending, jobs.Running, jobs.Canceled, jobs.Complete, jobs.Complete, jobs.Running, jobs.Complete}
	byStatus := make(map[jobs.Status][]jobs.Job)
	var everything []jobs.Job
	for i, st := range statuses {
		j := newJob(alice)
		if st.Ended() {
			j = ended(j, st, base.Add(time.Duration(i)*time.Second))
		} else {
			j.Status = st
		}
		c := mustCreate(t, s, j)
		byStatus[st] = append(byStatus[st], c)
		everything = append(everything, c)
		other := newJob(bob)
		if st.Ended() {
			other = ended(other, st, base)
		} else {
			other.Status = st
		}
		mustCreate(t, s, other)
	}
	for _, st := range []jobs.Status{jobs.Running, jobs.CancelPending, jobs.Complete, jobs.Canceled} {
		checkJobs(t, fmt.Sprintf("List status %s", st), mustList(t, s, jobs.ListQuery{Owner: alice, Status: st, Limit: 100}), byStatus[st])
	}
	checkJobs(t, "List without status", mustList(t, s, jobs.ListQuery{Owner: alice, Limit: 100}), everything)

	// The limit counts matching jobs, not the jobs read.
	complete := byStatus[jobs.Complete]
	checkJobs(t, "first page of complete", mustList(t, s, jobs.ListQuery{Owner: alice, Status: jobs.Complete, Limit: 2}), complete[:2])
	checkJobs(t, "second page of complete", mustList(t, s, jobs.ListQuery{Owner: alice, Status: jobs.Complete, After: complete[1].CreateRevision, Limit: 2}), complete[2:4])
	checkJobs(t, "last page of complete", mustList(t, s, jobs.ListQuery{Owner: alice, Status: jobs.Complete, After: complete[3].CreateRevision, Limit: 2}), nil)

	// The filter sees the current status.
	r := byStatus[jobs.Running][0]
	u := mustUpdate(t, s, ended(r, jobs.Canceled, base))
	checkJobs(t, "List canceled after Update", mustList(t, s, jobs.ListQuery{Owner: alice, Status: jobs.Canceled, Limit: 100}), []jobs.Job{u, byStatus[jobs.Canceled][0]})
	checkJobs(t, "List running after Update", mustList(t, s, jobs.ListQuery{Owner: alice, Status: jobs.Running, Limit: 100}), byStatus[jobs.Running][1:])
}

func testListCurrent(t *testing.T, s jobs.Store) {
	a := mustCreate(t, s, newJob(alice))
	b := mustCreate(t, s, newJob(alice))
	b.Operation = "changed"
	b = mustUpdate(t, s, b)
	checkJobs(t, "List after Update", all(t, s, alice), []jobs.Job{a, b})
}

func testListOwnerChange(t *testing.T, s jobs.Store) {
	b1 := mustCreate(t, s, newJob(bob))
	a := mustCreate(t, s, newJob(alice))
	b2 := mustCreate(t, s, newJob(bob))
	a.Owner = bob
	moved := mustUpdate(t, s, a)
	if js := all(t, s, alice); len(js) != 0 {
		t.Errorf("List of the former owner returned %v", ids(js))
	}
	checkJobs(t, "List of the new owner", all(t, s, bob), []jobs.Job{b1, moved, b2})
}

func testEndedBefore(t *testing.T, s jobs.Store) {
	east := time.FixedZone("east", 5*3600)
	west := time.FixedZone("west", -7*3600)
	// Ended times, created out of order and in different zones so that
	// neither creation order nor the written form of the time sorts them.
	at := []time.Time{
		base.Add(3 * time.Hour).In(west),
		base.Add(1 * time.Hour),
		base.Add(5 * time.Hour).In(east),
		base.Add(2 * time.Hour).In(east),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		base.Add(4 * time.Hour),
		base.Add(2*time.Hour + time.Nanosecond).In(west),
		base.Add(-time.Hour),
		time.Date(1950, 1, 1, 0, 0, 0, 0, east),
	}
	created := make([]jobs.Job, len(at))
	for i, e := range at {
		st := jobs.Complete
		if i%2 == 1 {
			st = jobs.Canceled
		}
		created[i] = mustCreate(t, s, ended(newJob([]jobs.Owner{alice, bob, lpar}[i%3]), st, e))
		// Jobs that have not ended are never returned.
		mustCreate(t, s, newJob(alice))
		pending := newJob(bob)
		pending.Status = jobs.CancelPending
		mustCreate(t, s, pending)
	}
	sorted := slices.Clone(created)
	slices.SortFunc(sorted, func(a, b jobs.Job) int { return a.Ended.Compare(b.Ended) })
	before := func(cutoff time.Time, limit int) []jobs.Job {
		var out []jobs.Job
		for _, j := range sorted {
			if j.Ended.Before(cutoff) && len(out) < limit {
				out = append(out, j)
			}
		}
		return out
	}

	far := base.Add(100 * time.Hour)
	checkJobs(t, "EndedBefore all", mustEndedBefore(t, s, far, 100), sorted)
	checkJobs(t, "EndedBefore with limit 3", mustEndedBefore(t, s, far, 3), sorted[:3])
	checkJobs(t, "EndedBefore with limit 1", mustEndedBefore(t, s, far, 1), sorted[:1])
	for _, cutoff := range append(slices.Clone(at),
		base.Add(3*time.Hour+time.Nanosecond).In(east),
		base.Add(2*time.Hour-time.Nanosecond),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
	) {
		// Strictly before: a job that ended at the cutoff is not included.
		checkJobs(t, fmt.Sprintf("EndedBefore(%v)", cutoff), mustEndedBefore(t, s, cutoff, 100), before(cutoff, 100))
		checkJobs(t, fmt.Sprintf("EndedBefore(%v) with limit 2", cutoff), mustEndedBefore(t, s, cutoff, 2), before(cutoff, 2))
	}
}

func testEndedBeforeFollowsWrites(t *testing.T, s jobs.Store) {
	cutoff := base.Add(time.Hour)
	if js := mustEndedBefore(t, s, cutoff, 10); len(js) != 0 {
		t.Fatalf("EndedBefore on an empty store returned %v", ids(js))
	}
	a := mustCreate(t, s, newJob(alice))
	b := mustCreate(t, s, newJob(alice))
	c := mustCreate(t, s, ended(newJob(bob), jobs.Complete, base.Add(10*time.Minute)))
	checkJobs(t, "EndedBefore", mustEndedBefore(t, s, cutoff, 10), []jobs.Job{c})

	// An update that ends a job adds it, with its current revision.
	a = mustUpdate(t, s, ended(a, jobs.Complete, base.Add(20*time.Minute)))
	b.Status = jobs.CancelPending
	b = mustUpdate(t, s, b)
	checkJobs(t, "EndedBefore after ending a job", mustEndedBefore(t, s, cutoff, 10), []jobs.Job{c, a})

	b = mustUpdate(t, s, ended(b, jobs.Canceled, base.Add(5*time.Minute)))
	checkJobs(t, "EndedBefore after ending another", mustEndedBefore(t, s, cutoff, 10), []jobs.Job{b, c, a})

	// An update that changes the end time moves the job.
	c.Ended = base.Add(2 * time.Hour)
	c = mustUpdate(t, s, c)
	checkJobs(t, "EndedBefore after moving the end time", mustEndedBefore(t, s, cutoff, 10), []jobs.Job{b, a})
	checkJobs(t, "EndedBefore later", mustEndedBefore(t, s, cutoff.Add(2*time.Hour), 10), []jobs.Job{b, a, c})

	// An update that changes other fields keeps the job, at its new revision.
	a.Results = json.RawMessage(`{"x":1}`)
	a = mustUpdate(t, s, a)
	checkJobs(t, "EndedBefore after an update", mustEndedBefore(t, s, cutoff, 10), []jobs.Job{b, a})

	// The revisions returned are good for Delete, as a sweep uses them.
	for _, j := range mustEndedBefore(t, s, cutoff, 1) {
		mustDelete(t, s, j.ID, j.Revision)
	}
	checkJobs(t, "EndedBefore after Delete", mustEndedBefore(t, s, cutoff, 10), []jobs.Job{a})
	mustDelete(t, s, a.ID, a.Revision)
	checkJobs(t, "EndedBefore after deleting all", mustEndedBefore(t, s, cutoff, 10), nil)
	checkJobs(t, "EndedBefore later after deleting", mustEndedBefore(t, s, cutoff.Add(2*time.Hour), 10), []jobs.Job{c})
}

func testWatch(t *testing.T, s jobs.Store) {
	before := mustCreate(t, s, newJob(alice))
	before.Operation = "before watch"
	before = mustUpdate(t, s, before)

	ch := watch(t, s)

	b := mustCreate(t, s, newJob(bob))
	before.Status = jobs.CancelPending
	a := mustUpdate(t, s, before)
	b2 := mustUpdate(t, s, ended(b, jobs.Complete, base.Add(time.Minute)))
	mustDelete(t, s, a.ID, a.Revision)
	c := mustCreate(t, s, newJob(lpar))

	checkChange(t, "change 1 (create)", recv(t, ch), b, false)
	checkChange(t, "change 2 (update)", recv(t, ch), a, false)
	checkChange(t, "change 3 (update)", recv(t, ch), b2, false)
	checkChange(t, "change 4 (delete)", recv(t, ch), a, true)
	checkChange(t, "change 5 (create)", recv(t, ch), c, false)

	// Failed writes are not changes: the next change is the next success.
	dup := newJob(alice)
	dup.ID = c.ID
	if _, err := s.Create(t.Context(), dup); !errors.Is(err, jobs.ErrExists) {
		t.Errorf("Create of a taken id: %v, want ErrExists", err)
	}
	if _, err := s.Update(t.Context(), a); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("Update of a deleted job: %v, want ErrNoJob", err)
	}
	stale := c
	stale.Revision++
	if _, err := s.Update(t.Context(), stale); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("Update with a wrong revision: %v, want ErrConflict", err)
	}
	if err := s.Delete(t.Context(), c.ID, c.Revision+1); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("Delete with a wrong revision: %v, want ErrConflict", err)
	}
	c.Operation = "last"
	c = mustUpdate(t, s, c)
	checkChange(t, "change 6 (update)", recv(t, ch), c, false)
}

func testWatchConcurrentWriters(t *testing.T, s jobs.Store) {
	const workers, updates = 8, 5
	ch := watch(t, s)

	type step struct {
		job     jobs.Job
		deleted bool
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wanted = make(map[string][]step)
	)
	for w := range workers {
		wg.Go(func() {
			var steps []step
			defer func() {
				mu.Lock()
				defer mu.Unlock()
				if len(steps) > 0 {
					wanted[steps[0].job.ID] = steps
				}
			}()
			j, err := s.Create(t.Context(), newJob([]jobs.Owner{alice, bob}[w%2]))
			if err != nil {
				t.Errorf("Create: %v", err)
				return
			}
			steps = append(steps, step{job: j})
			for i := range updates {
				j.Operation = fmt.Sprint(i)
				if j, err = s.Update(t.Context(), j); err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				steps = append(steps, step{job: j})
			}
			if err := s.Delete(t.Context(), j.ID, j.Revision); err != nil {
				t.Errorf("Delete: %v", err)
				return
			}
			steps = append(steps, step{job: j, deleted: true})
		})
	}
	await(t, "concurrent writers", wg.Wait)
	if t.Failed() {
		return
	}

	total := workers * (updates + 2)
	got := make(map[string][]jobs.Change)
	lastCreate := int64(0)
	for i := range total {
		c := recv(t, ch)
		if len(got[c.Job.ID]) == 0 {
			// Creates arrive in commit order, so in CreateRevision order.
			if c.Job.CreateRevision <= lastCreate {
				t.Errorf("change %d creates job %s with CreateRevision %d after one with %d", i, c.Job.ID, c.Job.CreateRevision, lastCreate)
			}
			lastCreate = c.Job.CreateRevision
		}
		got[c.Job.ID] = append(got[c.Job.ID], c)
	}
	for id, steps := range wanted {
		changes := got[id]
		if len(changes) != len(steps) {
			t.Errorf("job %s: %d changes arrived, want %d", id, len(changes), len(steps))
			continue
		}
		for i, st := range steps {
			checkChange(t, fmt.Sprintf("job %s change %d", id, i), changes[i], st.job, st.deleted)
		}
	}
	if len(got) != len(wanted) {
		t.Errorf("changes arrived for %d jobs, want %d", len(got), len(wanted))
	}
}

func testWatchUnreadDoesNotBlock(t *testing.T, s jobs.Store) {
	const n = 300
	ch := watch(t, s)
	var written []jobs.Job
	await(t, "writes while a watcher does not read", func() {
		for i := range n {
			j, err := s.Create(t.Context(), newJob(alice))
			if err != nil {
				t.Errorf("Create %d: %v", i, err)
				return
			}
			written = append(written, j)
		}
	})
	if t.Failed() {
		return
	}
	for i, want := range written {
		checkChange(t, fmt.Sprintf("change %d", i), recv(t, ch), want, false)
	}
}

func testWatchMany(t *testing.T, s jobs.Store) {
	first := watch(t, s)
	a := mustCreate(t, s, newJob(alice))
	second := watch(t, s)
	b := mustCreate(t, s, newJob(bob))
	a2 := a
	a2.Status = jobs.CancelPending
	a2 = mustUpdate(t, s, a2)

	checkChange(t, "first watcher, change 1", recv(t, first), a, false)
	checkChange(t, "first watcher, change 2", recv(t, first), b, false)
	checkChange(t, "first watcher, change 3", recv(t, first), a2, false)
	checkChange(t, "second watcher, change 1", recv(t, second), b, false)
	checkChange(t, "second watcher, change 2", recv(t, second), a2, false)
}

func testWatchClose(t *testing.T, s jobs.Store) {
	// A watch whose context ends is closed, with or without changes queued.
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Watch(ctx)
	mustCreate(t, s, newJob(alice))
	mustCreate(t, s, newJob(alice))
	cancel()
	waitClosed(t, ch)

	ctx, cancel = context.WithCancel(context.Background())
	ch = s.Watch(ctx)
	cancel()
	waitClosed(t, ch)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	waitClosed(t, s.Watch(ctx))

	// Closing one watch leaves the others and the store working.
	live := watch(t, s)
	ctx, cancel = context.WithCancel(context.Background())
	dead := s.Watch(ctx)
	cancel()
	waitClosed(t, dead)
	c := mustCreate(t, s, newJob(bob))
	checkChange(t, "live watcher", recv(t, live), c, false)
}

func testConcurrentUpdates(t *testing.T, s jobs.Store) {
	const workers, each = 8, 25
	type counter struct {
		N int `json:"n"`
	}
	j := newJob(alice)
	j.Results = json.RawMessage(`{"n":0}`)
	c := mustCreate(t, s, j)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		revs = map[int64]bool{c.Revision: true}
	)
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					cur, err := s.Get(t.Context(), c.ID)
					if err != nil {
						t.Errorf("Get: %v", err)
						return
					}
					var n counter
					if err := json.Unmarshal(cur.Results, &n); err != nil {
						t.Errorf("Results %q: %v", cur.Results, err)
						return
					}
					n.N++
					cur.Results, _ = json.Marshal(n)
					u, err := s.Update(t.Context(), cur)
					if errors.Is(err, jobs.ErrConflict) {
						continue
					}
					if err != nil {
						t.Errorf("Update: %v", err)
						return
					}
					mu.Lock()
					if revs[u.Revision] {
						t.Errorf("two writes returned Revision %d", u.Revision)
					}
					revs[u.Revision] = true
					mu.Unlock()
					break
				}
			}
		})
	}
	await(t, "concurrent updates", wg.Wait)
	if t.Failed() {
		return
	}
	final := mustGet(t, s, c.ID)
	var n counter
	if err := json.Unmarshal(final.Results, &n); err != nil {
		t.Fatalf("Results %q: %v", final.Results, err)
	}
	if n.N != workers*each {
		t.Errorf("counter is %d after %d increments: updates were lost", n.N, workers*each)
	}
	if !revs[final.Revision] || final.Revision != slices.Max(slices.Collect(maps.Keys(revs))) {
		t.Errorf("final Revision %d is not the last one a write returned", final.Revision)
	}
	if final.CreateRevision != c.CreateRevision {
		t.Errorf("CreateRevision changed from %d to %d", c.CreateRevision, final.CreateRevision)
	}
}

func testResults(t *testing.T, s jobs.Store) {
	payloads := []string{
		`{"big":12345678901234567890,"n":{"a":[1,2]}}`,
		"{ \"spaced\" : [ 1 , 2 ] ,\n\t\"x\":1.50e+3 }",
		`{"html":"<a href=\"x\">&amp;</a>","u":"\u00e9\u2028","raw":"é😀"}`,
		`{"z":1,"a":2,"z":3}`,
		`{}`,
	}
	ch := watch(t, s)
	for _, p := range payloads {
		j := newJob(alice)
		j.Results = json.RawMessage(p)
		c := mustCreate(t, s, j)
		checkRaw(t, "Create result", c.Results, p)
		checkRaw(t, "Get", mustGet(t, s, c.ID).Results, p)
		checkRaw(t, "Watch create", recv(t, ch).Job.Results, p)

		u := ended(c, jobs.Complete, base)
		u.Results = json.RawMessage(p + " ")
		u = mustUpdate(t, s, u)
		checkRaw(t, "Update result", u.Results, p+" ")
		checkRaw(t, "Get after Update", mustGet(t, s, c.ID).Results, p+" ")
		checkRaw(t, "Watch update", recv(t, ch).Job.Results, p+" ")
		for _, l := range mustList(t, s, jobs.ListQuery{Owner: alice, After: c.CreateRevision - 1, Limit: 1}) {
			checkRaw(t, "List", l.Results, p+" ")
		}
		for _, e := range mustEndedBefore(t, s, base.Add(time.Second), 100) {
			if e.ID == c.ID {
				checkRaw(t, "EndedBefore", e.Results, p+" ")
			}
		}
		mustDelete(t, s, c.ID, u.Revision)
		checkRaw(t, "Watch delete", recv(t, ch).Job.Results, p+" ")
	}

	// No results stay none.
	c := mustCreate(t, s, newJob(alice))
	if r := mustGet(t, s, c.ID).Results; len(r) != 0 {
		t.Errorf("job without results has Results %q", r)
	}
}

func checkRaw(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s: Results %q, want %q byte for byte", what, got, want)
	}
}

func testTimes(t *testing.T, s jobs.Store) {
	zone := time.FixedZone("odd", 5*3600+45*60)
	created := time.Now() // carries a monotonic reading and the local zone
	endedAt := base.In(zone).Add(987654321 * time.Nanosecond)
	times := []time.Time{created, base, base.In(zone), endedAt, time.Date(1969, 7, 20, 20, 17, 40, 1, time.UTC), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)}

	ch := watch(t, s)
	for _, tm := range times {
		j := newJob(alice)
		j.Created = tm
		c := mustCreate(t, s, j)
		checkTime(t, "Create result Created", c.Created, tm)
		checkTime(t, "Get Created", mustGet(t, s, c.ID).Created, tm)
		checkTime(t, "Watch Created", recv(t, ch).Job.Created, tm)

		u := mustUpdate(t, s, ended(c, jobs.Complete, tm))
		checkTime(t, "Update result Ended", u.Ended, tm)
		got := mustGet(t, s, c.ID)
		checkTime(t, "Get Created after Update", got.Created, tm)
		checkTime(t, "Get Ended", got.Ended, tm)
		checkTime(t, "Watch Ended", recv(t, ch).Job.Ended, tm)
		ls := mustList(t, s, jobs.ListQuery{Owner: alice, After: c.CreateRevision - 1, Limit: 1})
		if len(ls) != 1 {
			t.Fatalf("List returned %d jobs, want 1", len(ls))
		}
		checkTime(t, "List Created", ls[0].Created, tm)
		checkTime(t, "List Ended", ls[0].Ended, tm)
		es := mustEndedBefore(t, s, tm.Add(time.Nanosecond), 1000)
		if !slices.ContainsFunc(es, func(e jobs.Job) bool { return e.ID == c.ID && e.Ended.Equal(tm) }) {
			t.Errorf("EndedBefore(%v) does not return the job that ended at %v", tm.Add(time.Nanosecond), tm)
		}
		mustDelete(t, s, c.ID, u.Revision)
		recv(t, ch)
	}

	// A job that has not ended keeps a zero Ended.
	c := mustCreate(t, s, newJob(alice))
	if e := mustGet(t, s, c.ID).Ended; !e.IsZero() {
		t.Errorf("running job has Ended %v, want zero", e)
	}
}

func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

func testFields(t *testing.T, s jobs.Store) {
	j := jobs.Job{
		ID:         jobs.NewID(),
		Owner:      jobs.Owner{Kind: jobs.PartitionOwner, Name: "LPAR \"7\" é"},
		Target:     "CPC1.LPAR7",
		Operation:  "POST /api/partitions/x/operations/start",
		Cancelable: true,
		Status:     jobs.Running,
		Created:    base,
	}
	c := mustCreate(t, s, j)
	want := j
	want.Revision, want.CreateRevision = c.Revision, c.CreateRevision
	checkJob(t, "Get", mustGet(t, s, j.ID), want)

	want.Cancelable = false
	want.Status = jobs.Canceled
	want.StatusCode = 409
	want.ReasonCode = 42
	want.Ended = base.Add(time.Second)
	want.Target = ""
	want.Results = json.RawMessage(`{"message":"x"}`)
	u := mustUpdate(t, s, want)
	want.Revision = u.Revision
	checkJob(t, "Update result", u, want)
	checkJob(t, "Get after Update", mustGet(t, s, j.ID), want)
	checkJobs(t, "List", all(t, s, j.Owner), []jobs.Job{want})
	checkJobs(t, "EndedBefore", mustEndedBefore(t, s, base.Add(time.Hour), 10), []jobs.Job{want})
}

func testIsolation(t *testing.T, s jobs.Store) {
	const p = `{"a":1}`
	ch := watch(t, s)
	j := newJob(alice)
	j.Results = json.RawMessage(p)
	c := mustCreate(t, s, j)
	j.Results[2] = 'X'
	c.Results[3] = 'Y'
	checkRaw(t, "Watch after changing the caller's copies", recv(t, ch).Job.Results, p)
	got := mustGet(t, s, c.ID)
	checkRaw(t, "Get after changing the caller's copies", got.Results, p)
	got.Results[2] = 'Z'
	checkRaw(t, "Get after changing a returned copy", mustGet(t, s, c.ID).Results, p)
	for _, l := range all(t, s, alice) {
		l.Results[2] = 'W'
	}
	checkRaw(t, "Get after changing a listed copy", mustGet(t, s, c.ID).Results, p)

	u := mustGet(t, s, c.ID)
	u.Results = json.RawMessage(p)
	in := ended(u, jobs.Complete, base)
	u = mustUpdate(t, s, in)
	in.Results[3] = 'T'
	u.Results[2] = 'V'
	checkRaw(t, "Watch after changing the caller's copies of an update", recv(t, ch).Job.Results, p)
	for _, e := range mustEndedBefore(t, s, base.Add(time.Hour), 10) {
		e.Results[3] = 'U'
	}
	checkRaw(t, "Get after changing copies from Update and EndedBefore", mustGet(t, s, c.ID).Results, p)
}
