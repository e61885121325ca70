package gateway

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
)

// connWriters write the hijacked event streams' bytes to their
// connections. A stream's goroutine waits small (its stack is shrunk while
// it waits for hours), and a TLS write would grow its stack again, once
// per event: when ten thousand streams get an event at once, that growth
// was a fifth of the gateway's time. The writers' stacks stay grown from
// one write to the next, so a stream only formats its event and queues
// itself.
//
// A stream is queued at most once and written by one writer at a time, so
// its events go out in order. A client that stops reading blocks the
// writer on its connection (for up to writeTimeout) but no other stream:
// while every writer has been stuck in one write for stallAfter, another
// one starts. The writers are as many as the gateway's CPUs, plus one per
// stuck connection; each goes after one to two writerIdle without work.
type connWriters struct {
	base  int // writers kept while there is work
	clock clock.Clock
	gone  sync.WaitGroup // the writers running

	mu      sync.Mutex
	queue   []*eventWriter  // streams with bytes to write, oldest first
	writers []*atomic.Int64 // when each writer's write began (unix ns), 0 between writes
	idle    int             // writers waiting for work, not yet woken
	wake    chan struct{}   // wakes an idle writer
	armed   bool            // the stall check is due
	stop    chan struct{}   // closed when the writers stop
}

const (
	// stallAfter is how long a write may take before the writers count
	// as stuck.
	stallAfter = 20 * time.Millisecond
	// writerIdle is how long a writer without work stays.
	writerIdle = time.Second
)

func newConnWriters(clk clock.Clock) *connWriters {
	base := max(runtime.GOMAXPROCS(0), 2)
	return &connWriters{base: base, clock: clk, wake: make(chan struct{}, 1024), stop: make(chan struct{})}
}

// enqueue has a writer write sw's buffer. false: the writers have
// stopped (the gateway is closed); the caller writes itself.
func (p *connWriters) enqueue(sw *eventWriter) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped() {
		return false
	}
	p.queue = append(p.queue, sw)
	switch {
	case p.idle > 0 && len(p.wake) < cap(p.wake):
		p.idle--
		p.wake <- struct{}{}
	case len(p.writers) < p.base:
		p.startLocked()
	case !p.armed:
		p.armed = true
		p.clock.AfterFunc(stallAfter, p.checkStall)
	}
	return true
}

// checkStall starts another writer if every writer has been in one write
// for stallAfter while streams wait.
func (p *connWriters) checkStall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	if len(p.queue) == 0 || p.idle > 0 || p.stopped() {
		return
	}
	now := p.clock.Now().UnixNano()
	stuck := true
	for _, since := range p.writers {
		if s := since.Load(); s == 0 || now-s < int64(stallAfter) {
			stuck = false
			break
		}
	}
	if stuck {
		p.startLocked()
	}
	p.armed = true
	p.clock.AfterFunc(stallAfter, p.checkStall)
}

func (p *connWriters) startLocked() {
	since := new(atomic.Int64)
	p.writers = append(p.writers, since)
	p.gone.Add(1)
	go p.run(since)
}

// writer is one writer's own state.
type writer struct {
	since  *atomic.Int64 // when its write began, 0 between writes
	idle   clock.Timer   // its idle check, once per writerIdle
	worked bool          // it wrote since idle was set
}

// run is a writer: it writes queued streams, oldest first, until it has
// had no work for a whole writerIdle (so it goes 1 to 2 writerIdle after
// its last write) or the writers stop. Its idle check is one timer per
// writerIdle, not one per wait: in a burst a writer waits between most
// writes.
func (p *connWriters) run(since *atomic.Int64) {
	defer p.gone.Done()
	w := &writer{since: since, idle: p.clock.NewTimer(writerIdle)}
	defer func() { w.idle.Stop() }()
	for {
		sw := p.next(w)
		if sw == nil {
			return
		}
		w.worked = true
		since.Store(p.clock.Now().UnixNano())
		again := sw.writeQueued()
		since.Store(0)
		if again {
			p.mu.Lock()
			p.queue = append(p.queue, sw)
			p.mu.Unlock()
		}
	}
}

// next takes the oldest queued stream, waiting for one if need be; nil:
// the writer ends.
func (p *connWriters) next(w *writer) *eventWriter {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) == 0 {
		if p.stopped() {
			p.leaveLocked(w.since)
			return nil
		}
		p.idle++
		p.mu.Unlock()
		timedOut := p.wait(w)
		p.mu.Lock()
		if !timedOut {
			continue // the waker counted this writer out of idle
		}
		select {
		case <-p.wake: // woken as the timer fired
			continue
		default:
		}
		p.idle--
		p.leaveLocked(w.since)
		return nil
	}
	sw := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	if len(p.queue) == 0 {
		p.queue = nil // let a burst's backing array go
	}
	return sw
}

// wait waits, idle, for a wake-up or the writers' stop (false), or for a
// whole writerIdle without work (true).
func (p *connWriters) wait(w *writer) (timedOut bool) {
	for {
		select {
		case <-p.wake:
			return false
		case <-p.stop:
			return false
		case <-w.idle.C():
			w.idle = p.clock.NewTimer(writerIdle)
			if !w.worked {
				return true
			}
			w.worked = false
		}
	}
}

func (p *connWriters) leaveLocked(since *atomic.Int64) {
	for i, s := range p.writers {
		if s == since {
			p.writers = append(p.writers[:i], p.writers[i+1:]...)
			return
		}
	}
}

// close stops the writers: each ends once the queue is empty. Streams
// queued later are written by their own goroutines.
func (p *connWriters) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	closeOnce(p.stop)
}

// stopped says whether close was called.
func (p *connWriters) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}
