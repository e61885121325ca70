package ratelog

import "testing"

func TestAllowCountsDropped(t *testing.T) {
	l := New(0.0001, 2) // a burst of 2, then next to nothing
	for i := range 2 {
		if ok, dropped := l.Allow(); !ok || dropped != 0 {
			t.Fatalf("line %d of the burst: %v %d", i, ok, dropped)
		}
	}
	for range 5 {
		if ok, _ := l.Allow(); ok {
			t.Fatal("a line past the burst was let through")
		}
	}
	if n := l.dropped.Load(); n != 5 {
		t.Fatalf("dropped %d, want 5", n)
	}
}
