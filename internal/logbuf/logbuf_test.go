package logbuf

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
)

// Lines written at once from many goroutines all reach the file whole,
// each goroutine's in its order, in fewer writes than lines.
func TestConcurrentLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cw := &countingWriter{w: f}
	l := New(cw)
	defer l.Close()
	const goroutines, lines = 16, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range lines {
				if n, err := fmt.Fprintf(l, "g=%d i=%d %s\n", g, i, strings.Repeat("x", i%50)); err != nil || n == 0 {
					t.Errorf("write: %d, %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	l.Flush()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	next := make([]int, goroutines)
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for _, line := range got {
		var g, i int
		var xs string
		if _, err := fmt.Sscanf(line, "g=%d i=%d %s", &g, &i, &xs); err != nil && i%50 != 0 {
			t.Fatalf("line %q: %v", line, err)
		}
		if g < 0 || g >= goroutines || i != next[g] || len(xs) != i%50 {
			t.Fatalf("line %q out of order or torn (want i=%d for g=%d)", line, next[g], g)
		}
		next[g]++
	}
	if len(got) != goroutines*lines {
		t.Fatalf("%d lines, want %d", len(got), goroutines*lines)
	}
	t.Logf("%d lines in %d writes", len(got), cw.n())
}

// A writer that stalls holds the loggers back once maxPending bytes wait,
// rather than letting the buffer grow, and loses nothing.
func TestStalledWriter(t *testing.T) {
	release := make(chan struct{})
	sw := &stallingWriter{release: release}
	l := New(sw)
	defer l.Close()
	done := make(chan struct{})
	line := []byte(strings.Repeat("y", 1023) + "\n")
	const total = 4 * maxPending / 1024
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range total / 4 {
					_, _ = l.Write(line)
				}
			})
		}
		wg.Wait()
	}()
	// Wait, bounded, for the buffer to fill up to its limit.
	deadline := time.Now().Add(10 * time.Second)
	pending := 0
	for pending < maxPending && time.Now().Before(deadline) {
		runtime.Gosched()
		l.mu.Lock()
		pending = len(l.pending)
		l.mu.Unlock()
	}
	if pending < maxPending || pending > maxPending+len(line) {
		t.Fatalf("%d bytes pending while the writer stalled, want %d", pending, maxPending)
	}
	select {
	case <-done:
		t.Fatal("writes of four times maxPending returned while the writer was stalled")
	default:
	}
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writes did not finish once the writer went on")
	}
	l.Flush()
	if got := sw.bytes(); got != total*len(line) {
		t.Fatalf("%d bytes written, want %d", got, total*len(line))
	}
}

// countingWriter counts its writes; each takes delay at least, as a
// system call does.
type countingWriter struct {
	mu     sync.Mutex
	w      *os.File
	writes int
	delay  time.Duration
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	return c.w.Write(p)
}

func (c *countingWriter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

type stallingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (s *stallingWriter) Write(p []byte) (int, error) {
	<-s.release
	s.mu.Lock()
	s.n += len(p)
	s.mu.Unlock()
	return len(p), nil
}

func (s *stallingWriter) bytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Lines logged through log/slog from many goroutines share writes: slog's
// handler holds its lock around each Write, so a Write that wrote through
// would make one system call per line.
func TestSlogLinesShareWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cw := &countingWriter{w: f, delay: 50 * time.Microsecond}
	l := New(cw)
	defer l.Close()
	log := slog.New(slog.NewTextHandler(l, nil))
	const goroutines, lines = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range lines {
				log.Info("rest", "g", g, "i", i)
			}
		})
	}
	wg.Wait()
	l.Flush()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != goroutines*lines {
		t.Fatalf("%d lines, want %d", n, goroutines*lines)
	}
	if w := cw.n(); w > goroutines*lines/4 {
		t.Errorf("%d lines took %d writes, want at most a quarter as many", goroutines*lines, w)
	}
	t.Logf("%d lines in %d writes", goroutines*lines, cw.n())
}

// After Close, writes go through at once, and nothing is left behind.
func TestClose(t *testing.T) {
	var sb strings.Builder
	var mu sync.Mutex
	l := New(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return sb.Write(p) }))
	_, _ = l.Write([]byte("before\n"))
	l.Close()
	_, _ = l.Write([]byte("after\n"))
	l.Close()
	mu.Lock()
	defer mu.Unlock()
	if sb.String() != "before\nafter\n" {
		t.Fatalf("got %q", sb.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// signalWriter hands each write to the test.
type signalWriter chan []byte

func (w signalWriter) Write(p []byte) (int, error) {
	w <- append([]byte(nil), p...)
	return len(p), nil
}

// The lines of a burst wait for the linger and go in one write; a full
// buffer and Flush write at once.
func TestLinesGatherForTheLinger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a wait
	defer cancel()
	fc := clocktest.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	writes := make(signalWriter, 16)
	l := newWriter(writes, fc)
	defer l.Close()
	next := func(what string) string {
		t.Helper()
		select {
		case b := <-writes:
			return string(b)
		case <-ctx.Done():
			t.Fatalf("%s: no write", what)
			return ""
		}
	}

	_, _ = l.Write([]byte("a\n"))
	if !fc.WaitForTimerWithin(linger, ctx.Done()) {
		t.Fatal("the writer goroutine does not linger")
	}
	_, _ = l.Write([]byte("b\n"))
	select {
	case b := <-writes:
		t.Fatalf("written before the linger ended: %q", b)
	default:
	}
	fc.Advance(linger)
	if got := next("after the linger"); got != "a\nb\n" {
		t.Errorf("one write after the linger: %q, want both lines", got)
	}

	// A full buffer does not wait for the clock.
	big := strings.Repeat("x", urgent) + "\n"
	_, _ = l.Write([]byte(big))
	if got := next("a full buffer"); got != big {
		t.Errorf("full buffer: %d bytes written, want %d", len(got), len(big))
	}

	// Nor does Flush.
	_, _ = l.Write([]byte("c\n"))
	flushed := make(chan struct{})
	go func() { l.Flush(); close(flushed) }()
	if got := next("a flush"); got != "c\n" {
		t.Errorf("flush wrote %q", got)
	}
	select {
	case <-flushed:
	case <-ctx.Done():
		t.Fatal("Flush did not return")
	}
}
