package clocktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
)

var epoch = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// bound is how long a test waits for a goroutine of the fake clock's (an
// AfterFunc call) before it fails rather than hangs.
func bound(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFakeTimerFiresWhenDue(t *testing.T) {
	f := clocktest.NewFake(epoch)
	tm := f.NewTimer(time.Second)
	f.Advance(time.Second - time.Nanosecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Nanosecond)
	select {
	case at := <-tm.C():
		if !at.Equal(epoch.Add(time.Second)) {
			t.Fatalf("fired at %v", at)
		}
	default:
		t.Fatal("did not fire when due")
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported it pending")
	}
	if f.Pending() != 0 {
		t.Fatalf("%d timers pending after the only one fired", f.Pending())
	}
}

func TestFakeAfterFunc(t *testing.T) {
	f := clocktest.NewFake(epoch)
	ran := make(chan struct{})
	f.AfterFunc(time.Second, func() { close(ran) })
	stopped := f.AfterFunc(time.Second, func() { t.Error("a stopped AfterFunc ran") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending AfterFunc reported it fired")
	}
	if n := f.Pending(); n != 1 {
		t.Fatalf("%d timers pending, want 1", n)
	}
	f.Advance(time.Second)
	select {
	case <-ran:
	case <-bound(t).Done():
		t.Fatal("AfterFunc did not run when due")
	}
	now := make(chan struct{})
	f.AfterFunc(0, func() { close(now) })
	select {
	case <-now:
	case <-bound(t).Done():
		t.Fatal("AfterFunc(0) did not run at once")
	}
}

func TestFakeWaitForTimerWithin(t *testing.T) {
	f := clocktest.NewFake(epoch)
	f.NewTimer(time.Hour) // always pending, like a heartbeat
	closed := make(chan struct{})
	close(closed)
	if f.WaitForTimerWithin(time.Minute, closed) {
		t.Fatal("found a timer within a minute when only an hour's is pending")
	}
	if !f.WaitForTimers(1, closed) {
		t.Fatal("WaitForTimers does not see the pending timer")
	}
	found := make(chan bool, 1)
	done := bound(t).Done()
	go func() { found <- f.WaitForTimerWithin(time.Minute, done) }()
	f.AfterFunc(time.Minute, func() {})
	if !<-found {
		t.Fatal("WaitForTimerWithin did not see a timer due within its limit")
	}
}
