// Package logbuf is a writer for log lines that writes the lines logged
// close together in one write. A Write appends its bytes and returns; one
// goroutine of the Writer, woken by the first line of a burst, gathers
// lines for a moment (linger) and writes everything appended to the
// underlying writer, and again what arrived meanwhile. So a busy process
// makes one system call, and wakes the goroutine once, per burst of lines
// rather than per line, and no logger waits on a system call. The writing
// is not the loggers' own because log/slog's handlers hold a lock of
// theirs around each Write: a Write that made the system call itself
// would hold every other logger behind it, one line per call. A line waits
// at most linger, plus a write under way; Flush and Close write at once.
package logbuf

import (
	"io"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
)

// linger is how long the writer goroutine gathers lines after the first of
// a burst before it writes them. A process serving 10,000 requests a
// second writes a line every 100 microseconds: woken for each, the
// goroutine cost a wake-up and a system call per line.
const linger = 2 * time.Millisecond

// urgent is how many bytes pending cut a linger short.
const urgent = 64 << 10

// maxPending is how many bytes may wait for a write under way before
// Write waits too, so that a stalled writer slows the loggers down, as it
// would without the buffer, instead of growing it.
const maxPending = 1 << 20

// Writer is an io.Writer that groups concurrent writes. Use New, and
// Close when done.
type Writer struct {
	w       io.Writer
	mu      sync.Mutex
	cond    sync.Cond // signalled when a write to w ends
	pending []byte
	spare   []byte
	writing bool          // the writer goroutine is writing
	closed  bool          // Close was called: Write writes through
	wake    chan struct{} // tells the writer goroutine that bytes wait
	now     chan struct{} // cuts its linger short
	done    chan struct{} // closed when the writer goroutine has ended
	clock   clock.Clock
}

// New returns a Writer that writes to w.
func New(w io.Writer) *Writer { return newWriter(w, clock.Real{}) }

func newWriter(w io.Writer, c clock.Clock) *Writer {
	l := &Writer{w: w, wake: make(chan struct{}, 1), now: make(chan struct{}, 1), done: make(chan struct{}), clock: c}
	l.cond.L = &l.mu
	go l.run()
	return l
}

// signal sends on c unless a signal waits there already.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Write appends p for the writer goroutine to write. It never fails:
// errors of the underlying writer are dropped, as a logger drops them.
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	for len(l.pending) >= maxPending && !l.closed {
		l.cond.Wait()
	}
	if l.closed {
		defer l.mu.Unlock()
		_, _ = l.w.Write(p)
		return len(p), nil
	}
	first := len(l.pending) == 0
	l.pending = append(l.pending, p...)
	if first { // under l.mu, which Close holds to close wake
		signal(l.wake)
	}
	if len(l.pending) >= urgent {
		signal(l.now)
	}
	l.mu.Unlock()
	return len(p), nil
}

// run writes what is pending whenever woken, until Close.
func (l *Writer) run() {
	defer close(l.done)
	for range l.wake {
		// Let the lines of the burst gather: they then share this write
		// rather than each waking the goroutine again.
		t := l.clock.NewTimer(linger)
		select {
		case <-t.C():
		case <-l.now:
		}
		t.Stop()
		l.mu.Lock()
		for len(l.pending) > 0 {
			b := l.pending
			l.pending = l.spare[:0]
			l.writing = true
			l.mu.Unlock()
			_, _ = l.w.Write(b)
			l.mu.Lock()
			l.spare = b
			l.writing = false
			l.cond.Broadcast()
		}
		l.mu.Unlock()
	}
}

// Flush returns once every byte written before it was called has been
// written to the underlying writer.
func (l *Writer) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for (len(l.pending) > 0 || l.writing) && !l.closed {
		signal(l.wake)
		signal(l.now)
		l.cond.Wait()
	}
}

// Close writes what is pending and ends the writer goroutine; later
// Writes write through, one at a time.
func (l *Writer) Close() {
	l.Flush()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.wake)
	signal(l.now) // a goroutine lingering on a burst's wake writes at once
	l.mu.Unlock()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) > 0 { // written between the Flush and closed
		_, _ = l.w.Write(l.pending)
		l.pending = nil
	}
	l.cond.Broadcast()
}
