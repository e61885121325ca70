package storetest

// The suite's tests of Watch and of concurrent writers.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

func testWatch(t *testing.T, s jobs.Store) {
	before := mustCreate(t, s, newJob(alice))
	before.Operation = "before watch"
	before = mustUpdate(t, s, before)

	ch := watch(t, s)

	b := mustCreate(t, s, newJob(bob))
	before.Status = jobs.CancelPending
	a := mustUpdate(t, s, before)
	b2 := mustUpdate(t, s, ended(b, jobs.Complete, base.Add(time.Minute)))
	mustDelete(t, s, a)
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
	if err := s.Delete(t.Context(), stale); !errors.Is(err, jobs.ErrConflict) {
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
			if err := s.Delete(t.Context(), j); err != nil {
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
