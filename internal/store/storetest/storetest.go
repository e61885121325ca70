// Package storetest is the conformance suite for jobs.Store: every
// implementation runs Run against fresh, empty stores and must pass all of
// it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
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
		{"EndedBeforeAfter", testEndedBeforeAfter},
		{"Unended", testUnended},
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

func mustDelete(t *testing.T, s jobs.Store, j jobs.Job) {
	t.Helper()
	if err := s.Delete(t.Context(), j); err != nil {
		t.Fatalf("Delete(%s, revision %d): %v", j.ID, j.Revision, err)
	}
}

// withRevision is j at revision rev: a copy read before or after the
// stored one, or never stored.
func withRevision(j jobs.Job, rev int64) jobs.Job {
	j.Revision = rev
	return j
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
	js, err := s.EndedBefore(t.Context(), at, jobs.EndKey{}, limit)
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
