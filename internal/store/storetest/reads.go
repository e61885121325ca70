package storetest

// The suite's tests of reads: List, EndedBefore and Unended.

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

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
	mustDelete(t, s, want[4])
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

// testEndedBeforeAfter pages through the ended jobs with EndedBefore's
// after, the last job of each page, at several page sizes and cutoffs:
// the pages hold every job ended before the cutoff once, in end-time
// order, ties in end time in ID order.
func testEndedBeforeAfter(t *testing.T, s jobs.Store) {
	// Ended long before the others: a reader that widens its reads from
	// after must reach the others in a bounded number of steps.
	all := []jobs.Job{mustCreate(t, s, ended(newJob(bob), jobs.Complete, time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)))}
	for i := range 12 {
		// Jobs 3k to 3k+2 end at the same time, to be told apart by ID.
		all = append(all, mustCreate(t, s, ended(newJob(alice), jobs.Complete, base.Add(time.Duration(i/3)*time.Minute))))
		mustCreate(t, s, newJob(bob)) // never returned: not ended
	}
	slices.SortFunc(all, func(a, b jobs.Job) int {
		return cmp.Or(a.Ended.Compare(b.Ended), cmp.Compare(a.ID, b.ID))
	})
	for _, cutoff := range []time.Time{base.Add(time.Hour), base.Add(2 * time.Minute), base, base.Add(time.Nanosecond), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)} {
		var want []jobs.Job
		for _, j := range all {
			if j.Ended.Before(cutoff) {
				want = append(want, j)
			}
		}
		for _, limit := range []int{1, 2, 4, 100} {
			var got []jobs.Job
			after := jobs.EndKey{}
			for range len(all) + 1 {
				page, err := s.EndedBefore(t.Context(), cutoff, after, limit)
				if err != nil {
					t.Fatalf("EndedBefore(%v, %+v, %d): %v", cutoff, after, limit, err)
				}
				if len(page) > limit {
					t.Fatalf("EndedBefore with limit %d returned %d jobs", limit, len(page))
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				after = jobs.EndKeyOf(page[len(page)-1])
			}
			checkJobs(t, fmt.Sprintf("EndedBefore(%v) in pages of %d", cutoff, limit), got, want)
		}
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
		mustDelete(t, s, j)
	}
	checkJobs(t, "EndedBefore after Delete", mustEndedBefore(t, s, cutoff, 10), []jobs.Job{a})
	mustDelete(t, s, a)
	checkJobs(t, "EndedBefore after deleting all", mustEndedBefore(t, s, cutoff, 10), nil)
	checkJobs(t, "EndedBefore later after deleting", mustEndedBefore(t, s, cutoff.Add(2*time.Hour), 10), []jobs.Job{c})
}

// unended pages through every job Unended returns, limit at a time.
func unended(t *testing.T, s jobs.Store, limit int) []jobs.Job {
	t.Helper()
	var out []jobs.Job
	after := int64(0)
	for range 1000 {
		page, err := s.Unended(t.Context(), after, limit)
		if err != nil {
			t.Fatalf("Unended(%d, %d): %v", after, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("Unended(%d, %d) returned %d jobs", after, limit, len(page))
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		after = page[len(page)-1].CreateRevision
	}
	t.Fatal("Unended does not come to an end")
	return nil
}

// Unended finds exactly the jobs that have not ended, of every owner, in
// creation order, and follows every write: an end, a cancel, a delete.
func testUnended(t *testing.T, s jobs.Store) {
	var want []jobs.Job
	var toEnd, toCancel, toDelete jobs.Job
	for i := range 12 {
		j := mustCreate(t, s, newJob([]jobs.Owner{alice, bob, lpar}[i%3]))
		switch i {
		case 2:
			mustUpdate(t, s, ended(j, jobs.Complete, base))
			continue
		case 4:
			toEnd = j
		case 6:
			toCancel = j
		case 8:
			toDelete = j
		}
		want = append(want, j)
	}
	for _, limit := range []int{1, 2, 5, 100} {
		checkJobs(t, fmt.Sprintf("Unended by %d", limit), unended(t, s, limit), want)
	}
	mustUpdate(t, s, ended(toEnd, jobs.Canceled, base))
	canceled := toCancel
	canceled.Status = jobs.CancelPending
	canceled = mustUpdate(t, s, canceled)
	ended := mustUpdate(t, s, ended(mustGet(t, s, toDelete.ID), jobs.Complete, base))
	mustDelete(t, s, ended)
	var after []jobs.Job
	for _, j := range want {
		switch j.ID {
		case toEnd.ID, toDelete.ID:
		case toCancel.ID:
			after = append(after, canceled)
		default:
			after = append(after, j)
		}
	}
	checkJobs(t, "Unended after writes", unended(t, s, 3), after)
	if page, err := s.Unended(t.Context(), after[len(after)-1].CreateRevision, 10); err != nil || len(page) != 0 {
		t.Errorf("Unended after the last: %v %v", ids(page), err)
	}
}
