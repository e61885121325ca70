package server

import (
	"testing"
	"time"
)

// A lingering stream waits at least streamLinger, however streams are
// grouped, and a stream that ends after a group's channel has closed does
// not find it closed.
func TestLingerNeverShort(t *testing.T) {
	var l lingerer
	start := time.Now()
	first, second := l.after(), l.after()
	<-first
	<-second
	if d := time.Since(start); d < streamLinger {
		t.Fatalf("lingered %v, want at least %v", d, streamLinger)
	}
	later := l.after()
	select {
	case <-later:
		t.Fatal("a stream ending now was handed a channel that has already closed")
	default:
	}
	<-later
}
