// Package logbuf is a writer for log lines that writes the lines logged at
// the same time in one write. A Write appends its bytes; if no write to
// the underlying writer is under way, it makes one with everything
// appended, and again while more arrived meanwhile; if one is, it returns
// at once, and the writer under way writes its bytes next. So a busy
// process makes one system call per burst of lines rather than one per
// line, and no logger waits on another's system call. There is no timer
// and no goroutine: bytes wait only while a write is under way.
package logbuf

import (
	"io"
	"sync"
)

// maxPending is how many bytes may wait for a write under way before
// Write waits too, so that a stalled writer slows the loggers down, as it
// would without the buffer, instead of growing it.
const maxPending = 1 << 20

// Writer is an io.Writer that groups concurrent writes. Use New.
type Writer struct {
	w        io.Writer
	mu       sync.Mutex
	cond     sync.Cond // signalled when a write to w ends
	pending  []byte
	spare    []byte
	flushing bool
}

// New returns a Writer that writes to w.
func New(w io.Writer) *Writer {
	l := &Writer{w: w}
	l.cond.L = &l.mu
	return l
}

// Write appends p and writes what is pending unless another Write is
// writing it. It never fails: errors of the underlying writer are
// dropped, as a logger drops them.
func (l *Writer) Write(p []byte) (int, error) {
	l.mu.Lock()
	for l.flushing && len(l.pending) >= maxPending {
		l.cond.Wait()
	}
	l.pending = append(l.pending, p...)
	if !l.flushing {
		l.flush()
	}
	l.mu.Unlock()
	return len(p), nil
}

// flush writes what is pending until nothing is. l.mu is held.
func (l *Writer) flush() {
	l.flushing = true
	for len(l.pending) > 0 {
		b := l.pending
		l.pending = l.spare[:0]
		l.mu.Unlock()
		_, _ = l.w.Write(b)
		l.mu.Lock()
		l.spare = b
		l.cond.Broadcast()
	}
	l.flushing = false
	l.cond.Broadcast()
}

// Flush returns once every byte written before it was called has been
// written to the underlying writer.
func (l *Writer) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.flushing {
		l.cond.Wait()
	}
	if len(l.pending) > 0 {
		l.flush()
	}
}
