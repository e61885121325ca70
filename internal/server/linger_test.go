package server

import (
	"context"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
)

// A lingering stream waits at least streamLinger, however streams are
// grouped, and a stream that ends after a group's channel has closed does
// not find it closed.
func TestLingerNeverShort(t *testing.T) {
	// Not on a grain boundary, so that grouping rounds up.
	fc := clocktest.NewFake(time.Date(2026, 11, 1, 8, 0, 0, 7e6, time.UTC))
	l := lingerer{clock: fc}
	// The channel closes in a goroutine of the fake clock's; a broken
	// linger fails the test here rather than hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	closes := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s: channel not closed once the linger passed", what)
		}
	}
	open := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("%s: channel closed before the linger passed", what)
		default:
		}
	}

	first := l.after()
	fc.Advance(lingerGrain / 2)
	second := l.after() // within the same grain: they may share a channel
	fc.Advance(streamLinger - lingerGrain/2 - time.Nanosecond)
	open("first", first)
	fc.Advance(lingerGrain / 2)
	open("second", second)
	fc.Advance(lingerGrain + time.Nanosecond)
	closes("first", first)
	closes("second", second)

	later := l.after()
	open("a stream ending after the group closed", later)
	fc.Advance(streamLinger - time.Nanosecond)
	open("a stream ending after the group closed", later)
	fc.Advance(lingerGrain + time.Nanosecond)
	closes("a stream ending after the group closed", later)
}
