// Package clocktest is the fake clock of the tests: it moves only when
// told to.
package clocktest

import (
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
)

var _ clock.Clock = (*Fake)(nil)

// Fake is a clock that moves only when Advance or Set is called.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever timers are added
}

// NewFake returns a Fake clock set to now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches now+d.
func (f *Fake) NewTimer(d time.Duration) clock.Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, at: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.fired = true
		t.c <- f.now
		return t
	}
	f.timers = append(f.timers, t)
	close(f.changed)
	f.changed = make(chan struct{})
	return t
}

// AfterFunc returns a timer that calls f in its own goroutine when the
// fake time reaches now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) clock.Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, at: f.now.Add(d), fn: fn}
	if d <= 0 {
		t.fired = true
		go fn()
		return t
	}
	f.timers = append(f.timers, t)
	close(f.changed)
	f.changed = make(chan struct{})
	return t
}

// Advance moves the fake time forward by d and fires the timers due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.timers[:0]
	for _, t := range f.timers {
		if t.fired {
			continue
		}
		if !t.at.After(f.now) {
			t.fired = true
			if t.fn != nil {
				go t.fn()
			} else {
				t.c <- f.now
			}
			continue
		}
		kept = append(kept, t)
	}
	f.timers = kept
}

// Pending returns how many timers wait to fire.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if !t.fired {
			n++
		}
	}
	return n
}

// WaitForTimers blocks until at least n timers wait to fire or done is
// closed; it reports whether they do. Tests use it to know that a goroutine
// has started waiting before they move the clock.
func (f *Fake) WaitForTimers(n int, done <-chan struct{}) bool {
	for {
		f.mu.Lock()
		pending := 0
		for _, t := range f.timers {
			if !t.fired {
				pending++
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if pending >= n {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}

// WaitForTimerWithin blocks until a timer waits to fire no later than d
// from the fake now, or done is closed; it reports whether one does. Tests
// use it to wait for a particular short timer (a linger, a close delay)
// among long ones that are always pending, such as heartbeats.
func (f *Fake) WaitForTimerWithin(d time.Duration, done <-chan struct{}) bool {
	for {
		f.mu.Lock()
		found := false
		limit := f.now.Add(d)
		for _, t := range f.timers {
			if !t.fired && !t.at.After(limit) {
				found = true
				break
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}

type fakeTimer struct {
	f     *Fake
	at    time.Time
	c     chan time.Time // nil for AfterFunc timers
	fn    func()         // set for AfterFunc timers
	fired bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.fired {
		return false
	}
	t.fired = true
	return true
}
