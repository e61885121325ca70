package jobs

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"time"
)

// hub hands store changes to the watchers of each job. Publishing never
// blocks: a watcher keeps only the newest undelivered state, so a slow
// reader sees intermediate states coalesced, and never loses the final one
// because an ended job does not change again.
type hub struct {
	mu     sync.Mutex
	subs   map[string]map[*Watcher]struct{}
	owners map[Owner]map[*CompletionWatcher]struct{}

	woken []*Watcher // publish's list of watchers to wake; only publish uses it
}

func newHub() *hub {
	return &hub{
		subs:   make(map[string]map[*Watcher]struct{}),
		owners: make(map[Owner]map[*CompletionWatcher]struct{}),
	}
}

// wakeBatch is how many of a change's watchers publish wakes before it
// lets others run. Waking thousands of watchers at once would queue them
// all ahead of the goroutines that carry their messages out (gRPC's
// connection writer yields once before it flushes a small batch, to the
// back of the queue): those would then flush only once every watcher had
// run. Woken a batch at a time, the watchers' messages leave as they go.
const wakeBatch = 64

// publish hands c to its watchers. It is called from one goroutine, in
// commit order.
func (h *hub) publish(c Change) {
	h.mu.Lock()
	woken := h.woken[:0]
	j := c.Job // one copy for all: Next copies it out
	for w := range h.subs[c.Job.ID] {
		w.set(c.Deleted, &j)
		woken = append(woken, w)
	}
	if !c.Deleted && c.Job.Status.Ended() {
		for w := range h.owners[c.Job.Owner] {
			w.offer(c.Job)
		}
	}
	h.mu.Unlock()
	for i, w := range woken {
		if i > 0 && i%wakeBatch == 0 {
			runtime.Gosched()
		}
		w.signal()
	}
	clear(woken)
	if cap(woken) > 1024 {
		woken = nil // a burst's list is not kept
	}
	h.woken = woken[:0]
}

func (h *hub) add(w *Watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.subs[w.id]
	if m == nil {
		m = make(map[*Watcher]struct{})
		h.subs[w.id] = m
	}
	m[w] = struct{}{}
}

func (h *hub) remove(w *Watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.subs[w.id]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(h.subs, w.id)
		}
	}
}

// Watcher follows one job's status. Next returns each new status; it is not
// safe for use by more than one goroutine at a time.
type Watcher struct {
	hub  *hub
	id   string
	wake chan struct{}

	mu      sync.Mutex
	pending *Job  // newest state not yet returned by Next
	lastRev int64 // revision last returned by Next
	gone    bool  // the job was deleted
	done    bool  // the final state was returned
}

func (w *Watcher) offer(c Change) {
	w.set(c.Deleted, &c.Job)
	w.signal()
}

// set records a change for Next (j is not changed after); signal wakes
// Next.
func (w *Watcher) set(deleted bool, j *Job) {
	w.mu.Lock()
	switch {
	case deleted:
		w.gone = true
	case j.Revision <= w.lastRev:
	case w.pending != nil && (w.pending.Status.Ended() || w.pending.Revision >= j.Revision):
		// Keep the final or a newer state.
	default:
		w.pending = j
	}
	w.mu.Unlock()
}

func (w *Watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next waits for the job's next status and returns it. After the final
// status it returns io.EOF; if the job is deleted before it ends, ErrNotFound.
func (w *Watcher) Next(ctx context.Context) (Job, error) {
	return w.next(ctx, nil)
}

// Ready waits until Next has an answer at once (a status, io.EOF or
// ErrNotFound) and returns nil, or until ctx ends and returns its error.
// It is Next's wait alone, in a small frame: a goroutine parked in it for
// hours keeps a shallow stack, which the runtime can keep small.
func (w *Watcher) Ready(ctx context.Context) error {
	for {
		w.mu.Lock()
		ready := w.done || w.pending != nil || w.gone
		w.mu.Unlock()
		if ready {
			return nil
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// errTimedOut is next's answer when timeout fires first.
var errTimedOut = errors.New("jobs: wait timed out")

func (w *Watcher) next(ctx context.Context, timeout <-chan time.Time) (Job, error) {
	for {
		w.mu.Lock()
		switch {
		case w.done:
			w.mu.Unlock()
			return Job{}, io.EOF
		case w.pending != nil:
			j := *w.pending
			w.pending = nil
			w.lastRev = j.Revision
			w.done = j.Status.Ended()
			w.mu.Unlock()
			return j, nil
		case w.gone:
			w.done = true
			w.mu.Unlock()
			return Job{}, ErrNotFound
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-timeout:
			return Job{}, errTimedOut
		case <-ctx.Done():
			return Job{}, ctx.Err()
		}
	}
}

// Close stops the watcher; call it when done.
func (w *Watcher) Close() { w.hub.remove(w) }

// Watch follows the caller's job: the first Next returns its current status.
func (r *Registry) Watch(ctx context.Context, c Caller, id string) (*Watcher, error) {
	w := &Watcher{hub: r.hub, id: id, wake: make(chan struct{}, 1)}
	// Subscribe before reading, so no change between the two is missed.
	r.hub.add(w)
	j, err := r.Get(ctx, c, id)
	if err != nil {
		w.Close()
		return nil, err
	}
	w.offer(Change{Job: j})
	return w, nil
}

// Wait returns the caller's job once it has ended, or its status when
// timeout has passed on the registry's clock (then timedOut is set).
func (r *Registry) Wait(ctx context.Context, c Caller, id string, timeout time.Duration) (j Job, timedOut bool, err error) {
	w, err := r.Watch(ctx, c, id)
	if err != nil {
		return Job{}, false, err
	}
	defer w.Close()
	t := r.clock.NewTimer(timeout)
	defer t.Stop()
	var last Job
	for {
		next, err := w.next(ctx, t.C())
		switch {
		case err == nil:
			last = next
			if next.Status.Ended() {
				return next, false, nil
			}
		case errors.Is(err, errTimedOut):
			return last, true, nil
		default:
			return Job{}, false, err
		}
	}
}
