package upstream

import "sync"

// recentNotes is how many notified job URIs are remembered for followers
// that register after their job's notification came: a job can end
// upstream before its follower starts.
const recentNotes = 4096

// notes hands the upstream's job-completion notifications to the
// followers of the jobs they name. While it is live (subscribed to the
// session's job topic) followers poll only as a safety net.
type notes struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{} // upstream job URI → wake channels
	recent  map[string]struct{}
	order   []string // recent, oldest first; a ring of recentNotes
	next    int
	live    bool
}

func newNotes() *notes {
	return &notes{waiters: map[string]map[chan struct{}]struct{}{}, recent: map[string]struct{}{}}
}

// register returns a channel that receives when the job at uri may have
// ended: a notification named it, or the subscription started or stopped
// (then every follower should look). If a notification named it already,
// the channel is ready at once. unregister releases it.
func (n *notes) register(uri string) (wake <-chan struct{}, unregister func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	set := n.waiters[uri]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		n.waiters[uri] = set
	}
	set[ch] = struct{}{}
	if _, ok := n.recent[uri]; ok {
		ch <- struct{}{}
	}
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(set, ch)
		if len(n.waiters[uri]) == 0 { // set, or no set: sets are never empty otherwise
			delete(n.waiters, uri)
		}
	}
}

// arrived records a notification for the job at uri and wakes its
// followers.
func (n *notes) arrived(uri string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.recent[uri]; !ok {
		if len(n.order) < recentNotes {
			n.order = append(n.order, uri)
		} else {
			delete(n.recent, n.order[n.next])
			n.order[n.next] = uri
			n.next = (n.next + 1) % recentNotes
		}
		n.recent[uri] = struct{}{}
	}
	for ch := range n.waiters[uri] {
		poke(ch)
	}
}

// setLive records whether the subscription is live. A change wakes every
// follower: one that missed notifications while there was no subscription
// looks now, and each picks the interval that now applies.
func (n *notes) setLive(live bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.live == live {
		return
	}
	n.live = live
	for _, set := range n.waiters {
		for ch := range set {
			poke(ch)
		}
	}
}

func (n *notes) isLive() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.live
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
