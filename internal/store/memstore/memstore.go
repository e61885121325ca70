// Package memstore is an in-memory jobs.Store for tests and single-process
// use without persistence. Like etcd it keeps one revision counter for the
// whole store, which every successful write advances.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/feed"
)

// Store is an in-memory jobs.Store. The zero value is not ready; use New.
type Store struct {
	mu   sync.RWMutex
	rev  int64
	jobs map[string]jobs.Job
	// byOwner holds each owner's jobs in CreateRevision order.
	byOwner map[jobs.Owner][]ownerEntry
	// ended holds the ended jobs in (Ended, ID) order, live the others in
	// CreateRevision order.
	ended []endEntry
	live  []ownerEntry
	feed  feed.Feed
}

type ownerEntry struct {
	createRev int64
	id        string
}

type endEntry struct {
	at time.Time
	id string
}

var _ jobs.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		jobs:    make(map[string]jobs.Job),
		byOwner: make(map[jobs.Owner][]ownerEntry),
	}
}

func cmpOwner(a ownerEntry, rev int64) int { return cmp.Compare(a.createRev, rev) }

func cmpEnd(a, b endEntry) int {
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// clone returns j with its own copy of Results, so that no caller shares
// memory with the store.
func clone(j jobs.Job) jobs.Job {
	if j.Results != nil {
		j.Results = bytes.Clone(j.Results)
	}
	return j
}

func (s *Store) addOwner(j jobs.Job) {
	es := s.byOwner[j.Owner]
	i, _ := slices.BinarySearchFunc(es, j.CreateRevision, cmpOwner)
	s.byOwner[j.Owner] = slices.Insert(es, i, ownerEntry{j.CreateRevision, j.ID})
}

func (s *Store) removeOwner(j jobs.Job) {
	es := s.byOwner[j.Owner]
	if i, ok := slices.BinarySearchFunc(es, j.CreateRevision, cmpOwner); ok {
		es = slices.Delete(es, i, i+1)
	}
	if len(es) == 0 {
		delete(s.byOwner, j.Owner)
	} else {
		s.byOwner[j.Owner] = es
	}
}

// addEnded adds j to the end-time index if it has ended, else to the index
// of jobs not ended.
func (s *Store) addEnded(j jobs.Job) {
	if !j.Status.Ended() {
		i, _ := slices.BinarySearchFunc(s.live, j.CreateRevision, cmpOwner)
		s.live = slices.Insert(s.live, i, ownerEntry{j.CreateRevision, j.ID})
		return
	}
	e := endEntry{j.Ended, j.ID}
	i, _ := slices.BinarySearchFunc(s.ended, e, cmpEnd)
	s.ended = slices.Insert(s.ended, i, e)
}

// removeEnded removes j from the index addEnded put it in.
func (s *Store) removeEnded(j jobs.Job) {
	if !j.Status.Ended() {
		if i, ok := slices.BinarySearchFunc(s.live, j.CreateRevision, cmpOwner); ok {
			s.live = slices.Delete(s.live, i, i+1)
		}
		return
	}
	if i, ok := slices.BinarySearchFunc(s.ended, endEntry{j.Ended, j.ID}, cmpEnd); ok {
		s.ended = slices.Delete(s.ended, i, i+1)
	}
}

// publish hands c to the watchers; s.mu is held for writing, so changes
// are published in commit order.
func (s *Store) publish(c jobs.Change) {
	c.Job = clone(c.Job)
	s.feed.Publish(c)
}

// Create adds j.
func (s *Store) Create(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return jobs.Job{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.ID]; ok {
		return jobs.Job{}, jobs.ErrExists
	}
	s.rev++
	j = clone(j)
	j.Revision, j.CreateRevision = s.rev, s.rev
	s.jobs[j.ID] = j
	s.addOwner(j)
	s.addEnded(j)
	s.publish(jobs.Change{Job: j})
	return clone(j), nil
}

// Get returns the job with the id.
func (s *Store) Get(ctx context.Context, id string) (jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return jobs.Job{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	j, ok := s.jobs[id]
	if !ok {
		return jobs.Job{}, jobs.ErrNoJob
	}
	return clone(j), nil
}

// GetOwned returns the job with the id if owner owns it.
func (s *Store) GetOwned(ctx context.Context, owner jobs.Owner, id string) (jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return jobs.Job{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	j, ok := s.jobs[id]
	if !ok || j.Owner != owner {
		return jobs.Job{}, jobs.ErrNoJob
	}
	return clone(j), nil
}

// Update replaces the stored job if its revision is still j.Revision.
func (s *Store) Update(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return jobs.Job{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.jobs[j.ID]
	if !ok {
		return jobs.Job{}, jobs.ErrNoJob
	}
	if old.Revision != j.Revision {
		return jobs.Job{}, jobs.ErrConflict
	}
	s.rev++
	j = clone(j)
	j.Revision, j.CreateRevision = s.rev, old.CreateRevision
	if old.Owner != j.Owner {
		s.removeOwner(old)
		s.addOwner(j)
	}
	s.removeEnded(old)
	s.addEnded(j)
	s.jobs[j.ID] = j
	s.publish(jobs.Change{Job: j})
	return clone(j), nil
}

// Delete removes j if its revision is still j.Revision.
func (s *Store) Delete(ctx context.Context, j jobs.Job) error {
	id, revision := j.ID, j.Revision
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.jobs[id]
	if !ok {
		return jobs.ErrNoJob
	}
	if old.Revision != revision {
		return jobs.ErrConflict
	}
	s.rev++
	delete(s.jobs, id)
	s.removeOwner(old)
	s.removeEnded(old)
	s.publish(jobs.Change{Job: old, Deleted: true})
	return nil
}

// List returns a page of q.Owner's jobs in CreateRevision order.
func (s *Store) List(ctx context.Context, q jobs.ListQuery) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		return nil, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	es := s.byOwner[q.Owner]
	i, found := slices.BinarySearchFunc(es, q.After, cmpOwner)
	if found {
		i++
	}
	var out []jobs.Job
	for _, e := range es[i:] {
		j := s.jobs[e.id]
		if q.Status != "" && j.Status != q.Status {
			continue
		}
		out = append(out, clone(j))
		if len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// EndedBefore returns up to limit ended jobs whose Ended is before t and
// which come after after, in end-time order.
func (s *Store) EndedBefore(ctx context.Context, t time.Time, after jobs.EndKey, limit int) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := 0
	if after != (jobs.EndKey{}) {
		var found bool
		i, found = slices.BinarySearchFunc(s.ended, endEntry{after.Ended, after.ID}, cmpEnd)
		if found {
			i++
		}
	}
	var out []jobs.Job
	for _, e := range s.ended[i:] {
		if len(out) >= limit || !e.at.Before(t) {
			break
		}
		out = append(out, clone(s.jobs[e.id]))
	}
	return out, nil
}

// Unended returns up to limit jobs that have not ended whose
// CreateRevision is above after, in CreateRevision order.
func (s *Store) Unended(ctx context.Context, after int64, limit int) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, found := slices.BinarySearchFunc(s.live, after, cmpOwner)
	if found {
		i++
	}
	var out []jobs.Job
	for _, e := range s.live[i:] {
		if len(out) >= limit {
			break
		}
		out = append(out, clone(s.jobs[e.id]))
	}
	return out, nil
}

// Watch delivers every change committed after it returns.
func (s *Store) Watch(ctx context.Context) <-chan jobs.Change {
	// Writers commit and publish under the write lock, so holding the read
	// lock means no write is between the two while subscribing.
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.feed.Subscribe(ctx)
}
