package boltstore

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"go.etcd.io/bbolt"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Writes are committed in groups. A write queues itself and then either
// finds that another writer committed it, or takes the writers' lock and
// commits every write queued so far in one bbolt transaction: one fsync
// for all of them. No write returns before the transaction holding it is
// on disk, so what a caller is told about survives a crash as before; the
// writes that queue while one transaction syncs share the next one. There
// is no timer: a lone write commits at once.

// pending is one write waiting for its commit.
type pending struct {
	f    func(b buckets) (jobs.Change, error)
	c    jobs.Change
	err  error
	done chan struct{}
}

// write runs f in a write transaction, shared with the writes queued
// beside it, and publishes the change it returns once that transaction has
// committed. f must make no write when it returns an error of the Store
// contract (jobs.ErrNoJob, jobs.ErrExists, jobs.ErrConflict): the other
// writes of its transaction commit all the same.
func (s *Store) write(ctx context.Context, f func(b buckets) (jobs.Change, error)) (jobs.Change, error) {
	if err := ctx.Err(); err != nil {
		return jobs.Change{}, err
	}
	p := &pending{f: f, done: make(chan struct{})}
	s.queueMu.Lock()
	s.queue = append(s.queue, p)
	s.queueMu.Unlock()
	select {
	case <-p.done:
	case s.writer <- struct{}{}:
		s.queueMu.Lock()
		group := s.queue
		s.queue = nil
		s.queueMu.Unlock()
		s.commit(group)
		<-s.writer
		<-p.done // committed in group, or by the writer before
	}
	return p.c, p.err
}

// commit runs the group's writes in one transaction, then, in their order,
// publishes each change and tells each writer. When the transaction fails
// (a write failed beyond the Store contract, or the commit did), each write
// is tried again in a transaction of its own, so that only the failing one
// fails. The caller holds the writers' lock.
func (s *Store) commit(group []*pending) {
	if len(group) == 0 {
		return
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := open(tx)
		// A job the group has not written yet is, if cached, as the
		// cache has it: the cache holds the last committed state of
		// what it holds, and no commit runs beside this one.
		written := make(map[string]bool, len(group))
		b.committed = func(id string) (jobs.Job, bool) {
			if written[id] {
				return jobs.Job{}, false
			}
			return s.cache.peek(id)
		}
		for _, p := range group {
			p.c, p.err = p.f(b)
			if p.err != nil && !contractError(p.err) {
				return p.err
			}
			if p.err == nil {
				written[p.c.Job.ID] = true
			}
		}
		return nil
	})
	if noSpace(err) {
		err = jobs.ErrStoreFull.WithCause(err)
	}
	if err != nil && len(group) > 1 {
		for _, p := range group {
			s.commit([]*pending{p})
		}
		return
	}
	s.cache.begin()
	for _, p := range group {
		if err != nil {
			p.err = err
		}
		if p.err == nil {
			s.cache.apply(p.c)
		}
	}
	s.cache.end()
	for _, p := range group {
		if p.err == nil {
			s.feed.Publish(p.c)
		}
		close(p.done)
	}
}

// noSpace reports whether err is the filesystem's refusal for want of
// space. bbolt passes a failed page write on as it is, but the failures of
// growing the file as text only.
func noSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error()))
}

func contractError(err error) bool {
	return errors.Is(err, jobs.ErrNoJob) || errors.Is(err, jobs.ErrExists) || errors.Is(err, jobs.ErrConflict)
}

// lockWriters takes the writers' lock, which no transaction is committing
// under.
func (s *Store) lockWriters() func() {
	s.writer <- struct{}{}
	return func() { <-s.writer }
}
