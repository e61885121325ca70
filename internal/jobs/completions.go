package jobs

import (
	"context"
	"slices"
	"sync"
)

// maxPendingCompletions bounds what a completion watcher holds for a slow
// reader. Past it the watcher drops what it holds and reads the owner's
// ended jobs from the store again when the reader comes back, so memory
// stays bounded and nothing is lost.
const maxPendingCompletions = 256

// CompletionWatcher follows the completions of one owner's jobs, in the
// order the store committed them. Next is not safe for use by more than
// one goroutine at a time.
type CompletionWatcher struct {
	r     *Registry
	owner Owner
	wake  chan struct{}

	mu       sync.Mutex
	pending  []Job // ended jobs not yet returned, by Revision
	overflow bool  // pending was dropped: read the store again
	lastRev  int64 // Revision of the last job returned (the cursor)
}

// WatchCompletions follows the caller's jobs as they end. after is the
// cursor of the last completion the caller handled (a job's Revision once
// it ended); the watcher returns every retained job that ended after it,
// then each new one. after == 0 starts from now.
func (r *Registry) WatchCompletions(ctx context.Context, c Caller, after int64) (*CompletionWatcher, error) {
	w := &CompletionWatcher{r: r, owner: c.Owner, wake: make(chan struct{}, 1)}
	// Subscribe before reading the store, so that nothing ending between
	// the two is missed; duplicates are dropped by revision.
	r.hub.mu.Lock()
	m := r.hub.owners[c.Owner]
	if m == nil {
		m = make(map[*CompletionWatcher]struct{})
		r.hub.owners[c.Owner] = m
	}
	m[w] = struct{}{}
	r.hub.mu.Unlock()

	owned, err := r.ownedJobs(ctx, c.Owner)
	if err != nil {
		w.Close()
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if after == 0 {
		// From now: past the newest revision among the owner's jobs. Any
		// job that ends later is written with a newer revision.
		for _, j := range owned {
			after = max(after, j.Revision)
		}
		w.lastRev = after
		return w, nil
	}
	w.lastRev = after
	for _, j := range owned {
		if j.Status.Ended() && j.Revision > after {
			w.pending = append(w.pending, j)
		}
	}
	w.sortPending()
	return w, nil
}

// ownedJobs reads all of the owner's jobs from the store.
func (r *Registry) ownedJobs(ctx context.Context, owner Owner) ([]Job, error) {
	var all []Job
	after := int64(0)
	for {
		page, err := r.store.List(ctx, ListQuery{Owner: owner, After: after, Limit: 500})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 500 {
			return all, nil
		}
		after = page[len(page)-1].CreateRevision
	}
}

func (w *CompletionWatcher) sortPending() {
	slices.SortFunc(w.pending, func(a, b Job) int {
		switch {
		case a.Revision < b.Revision:
			return -1
		case a.Revision > b.Revision:
			return 1
		}
		return 0
	})
	w.pending = slices.CompactFunc(w.pending, func(a, b Job) bool { return a.Revision == b.Revision })
}

func (w *CompletionWatcher) offer(j Job) {
	w.mu.Lock()
	switch {
	case w.overflow || j.Revision <= w.lastRev:
	case len(w.pending) >= maxPendingCompletions:
		w.pending, w.overflow = nil, true
	default:
		w.pending = append(w.pending, j) // the feed is in commit order
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next returns the next job of the owner's that ended.
func (w *CompletionWatcher) Next(ctx context.Context) (Job, error) {
	for {
		w.mu.Lock()
		if w.overflow {
			w.overflow = false
			after := w.lastRev
			w.mu.Unlock()
			owned, err := w.r.ownedJobs(ctx, w.owner)
			if err != nil {
				return Job{}, err
			}
			w.mu.Lock()
			for _, j := range owned {
				if j.Status.Ended() && j.Revision > after {
					w.pending = append(w.pending, j)
				}
			}
			w.sortPending()
		}
		for len(w.pending) > 0 {
			j := w.pending[0]
			w.pending = w.pending[1:]
			if j.Revision <= w.lastRev || w.r.expired(j) {
				continue
			}
			w.lastRev = j.Revision
			w.mu.Unlock()
			return j, nil
		}
		w.pending = nil // let the backing array go
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			return Job{}, ctx.Err()
		}
	}
}

// Cursor is the revision of the last job Next returned: pass it to
// WatchCompletions to resume after it.
func (w *CompletionWatcher) Cursor() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastRev
}

// Close stops the watcher.
func (w *CompletionWatcher) Close() {
	h := w.r.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.owners[w.owner]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(h.owners, w.owner)
		}
	}
}
