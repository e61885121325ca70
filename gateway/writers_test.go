package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
)

// The writers of hijacked event streams, on connections that are real
// (net.Pipe: a write returns once the other end has read it all, so a
// client that does not read holds its writer for as long as it likes).

// writeLimit bounds every read and wait of these tests.
const writeLimit = 10 * time.Second

func writersGateway(t *testing.T, base int, clk clock.Clock) *Gateway {
	t.Helper()
	g := &Gateway{
		clock:     clk,
		heartbeat: time.Hour,
		streams:   make(map[net.Conn]struct{}),
		ends:      make(map[*context.CancelFunc]struct{}),
		drained:   make(chan struct{}),
		writers:   newConnWriters(clk),
	}
	g.writers.base = base
	t.Cleanup(g.Close)
	return g
}

// pipeStream is a hijacked event stream on one end of a pipe; the test
// reads the other.
func pipeStream(t *testing.T, g *Gateway) (*eventWriter, *bufio.Reader, net.Conn, context.Context) {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	sw := &eventWriter{g: g, cancel: cancel, conn: server, over: make(chan struct{})}
	g.track(server, true)
	sw.beat = g.clock.AfterFunc(time.Hour, func() {})
	_ = client.SetReadDeadline(time.Now().Add(writeLimit))
	return sw, bufio.NewReader(client), client, ctx
}

// advanceUntil moves clk on by step until done is closed, within
// writeLimit.
func advanceUntil(t *testing.T, clk *clocktest.Fake, step time.Duration, done <-chan struct{}) {
	t.Helper()
	deadline := time.NewTimer(writeLimit)
	defer deadline.Stop()
	for {
		select {
		case <-done:
			return
		case <-deadline.C:
			t.Fatalf("not done within %v of moving the clock", writeLimit)
		default:
			clk.Advance(step)
			runtime.Gosched()
		}
	}
}

// writersGone is closed once every writer of g has ended.
func writersGone(g *Gateway) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		g.writers.gone.Wait()
		close(c)
	}()
	return c
}

// readEvent reads one event and returns its id.
func readEvent(r *bufio.Reader) (string, error) {
	var id string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return id, err
		}
		switch {
		case line == "\n":
			return id, nil
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimSpace(line[len("id: "):])
		}
	}
}

// A client that stops reading holds the writer that is writing to it, but
// no other stream: the other streams' events go out, on a writer started
// for them, though every writer the gateway keeps is stuck.
func TestStuckClientHoldsNoOtherStream(t *testing.T) {
	clk := clocktest.NewFake(time.Unix(1e9, 0))
	g := writersGateway(t, 1, clk)
	stuck, stuckR, _, _ := pipeStream(t, g)
	if err := stuck.event("s1", "status", strings.Repeat("x", 1000)); err != nil {
		t.Fatal(err)
	}
	// The one writer is now in its write to the stuck client, for good.
	// Each other stream's event waits until the writers have been stuck
	// for stallAfter, on the gateway's clock, and then goes out.
	for i := range 3 {
		other, r, _, _ := pipeStream(t, g)
		want := fmt.Sprint("o", i)
		if err := other.event(want, "status", "{}"); err != nil {
			t.Fatal(err)
		}
		got := make(chan struct{})
		var id string
		var err error
		go func() {
			id, err = readEvent(r)
			close(got)
		}()
		advanceUntil(t, clk, stallAfter, got)
		if err != nil || id != want {
			t.Fatalf("stream %d beside a stuck one: event %q, %v; want %q", i, id, err, want)
		}
	}
	// The stuck client reads again, and has its event.
	if id, err := readEvent(stuckR); err != nil || id != "s1" {
		t.Fatalf("stuck stream: event %q, %v", id, err)
	}
}

// Each stream's events arrive in the order they were sent, none lost or
// twice, while many streams share few writers.
func TestStreamEventsStayInOrder(t *testing.T) {
	g := writersGateway(t, 2, clock.Real{})
	const streams, events = 24, 300
	var wg sync.WaitGroup
	errs := make(chan error, 2*streams)
	for s := range streams {
		sw, r, _, _ := pipeStream(t, g)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for e := range events {
				if err := sw.event(fmt.Sprint(e), "status", strings.Repeat("y", e%97)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for e := range events {
				id, err := readEvent(r)
				if err != nil || id != fmt.Sprint(e) {
					errs <- fmt.Errorf("stream %d: event %q (%v), want %d", s, id, err, e)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A stream that ends while its writer is still writing has its connection
// closed after the last byte, the shutdown event included, not during.
func TestStreamEndWaitsForItsWrites(t *testing.T) {
	g := writersGateway(t, 1, clock.Real{})
	sw, r, _, ctx := pipeStream(t, g)
	if err := sw.event("e1", "status", strings.Repeat("z", 4000)); err != nil {
		t.Fatal(err)
	}
	if err := sw.event("e2", "status", "{}"); err != nil {
		t.Fatal(err)
	}
	g.cut.Store(true) // the gateway stops: the stream is told so
	sw.end(nil)
	if ctx.Err() == nil {
		t.Error("the stream's call goes on after its end")
	}
	all, err := io.ReadAll(r) // bounded by the read deadline
	if err != nil {
		t.Fatalf("read %d bytes, then %v", len(all), err)
	}
	got := string(all)
	if !strings.Contains(got, "id: e1\n") || !strings.Contains(got, "id: e2\n") || !strings.HasSuffix(got, shutdownEvent) {
		t.Fatalf("stream got %d bytes ending %q; want both events and then the shutdown event", len(got), got[max(0, len(got)-80):])
	}
	g.streamsMu.Lock()
	open := len(g.streams)
	g.streamsMu.Unlock()
	if open != 0 {
		t.Errorf("%d stream connections still tracked after the close", open)
	}
}

// A write that fails (the client went) ends the stream, and the stream's
// next event is refused.
func TestFailedWriteEndsStream(t *testing.T) {
	g := writersGateway(t, 1, clock.Real{})
	sw, _, client, ctx := pipeStream(t, g)
	client.Close()
	if err := sw.event("e1", "status", "{}"); err != nil {
		t.Fatal(err) // queued: the writer finds out
	}
	select {
	case <-ctx.Done():
	case <-time.After(writeLimit):
		t.Fatal("the stream goes on after its write failed")
	}
	if err := sw.event("e2", "status", "{}"); err == nil {
		t.Error("an event after a failed write was accepted")
	}
}

// A writer without work goes after writerIdle, on the gateway's clock,
// and a later event starts another.
func TestIdleWritersGo(t *testing.T) {
	clk := clocktest.NewFake(time.Unix(1e9, 0))
	g := writersGateway(t, 2, clk)
	sw, r, _, _ := pipeStream(t, g)
	for _, id := range []string{"e1", "e2"} {
		if err := sw.event(id, "status", "{}"); err != nil {
			t.Fatal(err)
		}
		if got, err := readEvent(r); err != nil || got != id {
			t.Fatalf("event %q, %v; want %q", got, err, id)
		}
		advanceUntil(t, clk, writerIdle, writersGone(g))
		g.writers.mu.Lock()
		n, idle := len(g.writers.writers), g.writers.idle
		g.writers.mu.Unlock()
		if n != 0 || idle != 0 {
			t.Fatalf("after the writers went: %d writers, %d idle", n, idle)
		}
	}
}

// Once the gateway is closed, its writers end, and a stream still writing
// writes for itself.
func TestWritersEndWithTheGateway(t *testing.T) {
	g := writersGateway(t, 2, clock.Real{})
	sw, r, _, _ := pipeStream(t, g)
	if err := sw.event("e1", "status", "{}"); err != nil {
		t.Fatal(err)
	}
	if id, err := readEvent(r); err != nil || id != "e1" {
		t.Fatalf("event %q, %v", id, err)
	}
	g.writers.close()
	select {
	case <-writersGone(g):
	case <-time.After(writeLimit):
		t.Fatal("writers left after the close")
	}
	done := make(chan error, 1)
	go func() { done <- sw.event("e2", "status", "{}") }()
	if id, err := readEvent(r); err != nil || id != "e2" {
		t.Fatalf("event after the close: %q, %v", id, err)
	}
	if err := <-done; err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatal(err)
	}
}
