package upstream

import (
	"fmt"
	"testing"
)

// followers is how many channels are registered.
func (n *notes) followers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for _, set := range n.waiters {
		k += len(set)
	}
	return k
}

func ready(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestNotesWakeTheirFollowers(t *testing.T) {
	n := newNotes()
	a, doneA := n.register("/api/jobs/a")
	b, doneB := n.register("/api/jobs/b")
	defer doneB()
	n.arrived("/api/jobs/a")
	if !ready(a) || ready(b) {
		t.Fatal("a notification woke the wrong follower")
	}
	doneA()
	// A follower that registers after its job's notification is woken at
	// once: the job ended before it started following.
	late, doneLate := n.register("/api/jobs/a")
	defer doneLate()
	if !ready(late) {
		t.Fatal("a follower registered after the notification was not woken")
	}
	// A change of the subscription wakes everyone, once per change.
	n.setLive(true)
	n.setLive(true)
	if !ready(b) || !ready(late) || ready(b) {
		t.Fatal("going live did not wake each follower exactly once")
	}
	n.setLive(false)
	if !ready(b) || n.isLive() {
		t.Fatal("going down did not wake the followers")
	}
}

func TestNotesRememberABoundedNumber(t *testing.T) {
	n := newNotes()
	for i := range recentNotes + 10 {
		n.arrived(fmt.Sprintf("/api/jobs/%d", i))
	}
	if len(n.recent) != recentNotes || len(n.order) != recentNotes {
		t.Fatalf("remembers %d (%d in order), want %d", len(n.recent), len(n.order), recentNotes)
	}
	old, done := n.register("/api/jobs/0")
	defer done()
	if ready(old) {
		t.Fatal("the oldest notification was not forgotten")
	}
	recent, done2 := n.register(fmt.Sprintf("/api/jobs/%d", recentNotes+9))
	defer done2()
	if !ready(recent) {
		t.Fatal("the newest notification was forgotten")
	}
	if n.followers() != 2 {
		t.Fatalf("%d followers registered, want 2", n.followers())
	}
}
