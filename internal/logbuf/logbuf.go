// Package logbuf is a writer for log lines that writes the lines logged at
// the same time in one write. A Write appends its bytes and returns; one
// goroutine of the Writer writes everything appended to the underlying
// writer, and again what arrived meanwhile. So a busy process makes one
// system call per burst of lines rather than one per line, and no logger
// waits on a system call. The writing is not the loggers' own because
// log/slog's handlers hold a lock of theirs around each Write: a Write that
// made the system call itself would hold every other logger behind it, one
// line per call. Bytes wait only while a write is under way.
package logbuf

import (
	"io"
	"runtime"
	"sync"
)

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
	done    chan struct{} // closed when the writer goroutine has ended
}

// New returns a Writer that writes to w.
func New(w io.Writer) *Writer {
	l := &Writer{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.cond.L = &l.mu
	go l.run()
	return l
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
	l.pending = append(l.pending, p...)
	select { // under l.mu, which Close holds to close wake
	case l.wake <- struct{}{}:
	default: // the goroutine is told already
	}
	l.mu.Unlock()
	return len(p), nil
}

// run writes what is pending whenever woken, until Close.
func (l *Writer) run() {
	defer close(l.done)
	for range l.wake {
		// Let the loggers that are ready run first: their lines then
		// share this write rather than each waking the goroutine again.
		runtime.Gosched()
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
		select {
		case l.wake <- struct{}{}:
		default:
		}
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
