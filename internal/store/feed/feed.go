// Package feed gives in-process stores the change notification that
// jobs.Store.Watch promises: every published change reaches every
// subscriber, in order, none lost, and a slow subscriber never blocks the
// writer (its queue grows instead).
package feed

import (
	"context"
	"sync"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Feed fans published changes out to subscribers. The zero value is ready.
type Feed struct {
	mu   sync.Mutex
	subs map[*sub]struct{}
}

type sub struct {
	mu     sync.Mutex
	queue  []jobs.Change
	signal chan struct{}
}

// Publish queues c for every current subscriber. Callers publish in commit
// order, for example while still holding their write lock.
func (f *Feed) Publish(c jobs.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.mu.Lock()
		s.queue = append(s.queue, c)
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

// Subscribe returns a channel of every change published after it returns,
// closed once ctx ends.
func (f *Feed) Subscribe(ctx context.Context) <-chan jobs.Change {
	s := &sub{signal: make(chan struct{}, 1)}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*sub]struct{})
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()

	out := make(chan jobs.Change)
	go func() {
		defer close(out)
		defer func() {
			f.mu.Lock()
			delete(f.subs, s)
			f.mu.Unlock()
		}()
		for {
			s.mu.Lock()
			q := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, c := range q {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-s.signal:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
