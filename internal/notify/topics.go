package notify

import (
	"context"

	"github.com/bcpii-gateway/bcpii-gateway/internal/osmsg"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// topic is a subscribed job topic: one registry completion watcher for its
// owner, fanned out to the topic's subscriptions.
type topic struct {
	name   string
	subs   map[*subscription]struct{} // guarded by Server.mu
	cancel context.CancelFunc
}

// subscription is one SUBSCRIBE of a connection.
type subscription struct {
	conn *conn
	id   string
	// anonymous: a STOMP 1.0 SUBSCRIBE without an id, known by its
	// destination; its messages carry no subscription header.
	anonymous bool
	dest      string
	topic     *topic
	// stop ends an OS message channel's subscription; nil for a job
	// topic's.
	stop func()
}

// subscribe adds sub to the topic called name, whose jobs are owner's,
// starting the topic's feed if sub is its first subscription. When it
// returns, every job of owner's that ends is delivered to sub.
func (s *Server) subscribe(ctx context.Context, name string, owner jobs.Owner, sub *subscription) error {
	if s.join(name, sub) {
		return nil
	}
	// The watcher reads the store: not under the lock.
	fctx, cancel := context.WithCancel(ctx)
	w, err := s.reg.WatchCompletions(fctx, jobs.Caller{Owner: owner}, 0)
	if err != nil {
		cancel()
		return err
	}
	s.mu.Lock()
	if t := s.topics[name]; t != nil { // another connection started it meanwhile
		t.subs[sub] = struct{}{}
		sub.topic = t
		s.mu.Unlock()
		w.Close()
		cancel()
		return nil
	}
	t := &topic{name: name, subs: map[*subscription]struct{}{sub: {}}, cancel: cancel}
	sub.topic = t
	s.topics[name] = t
	s.feeds.Add(1)
	s.mu.Unlock()
	go s.feed(fctx, t, w)
	return nil
}

// join adds sub to the topic called name if it is fed already.
func (s *Server) join(name string, sub *subscription) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[name]
	if t == nil {
		return false
	}
	t.subs[sub] = struct{}{}
	sub.topic = t
	return true
}

// unsubscribe removes sub from its topic, stopping the topic's feed when
// sub was its last subscription.
func (s *Server) unsubscribe(sub *subscription) {
	if sub.stop != nil {
		sub.stop()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := sub.topic
	if t == nil {
		return
	}
	delete(t.subs, sub)
	sub.topic = nil
	if len(t.subs) == 0 && s.topics[t.name] == t {
		delete(s.topics, t.name)
		t.cancel()
	}
}

// feed hands each job of the topic's owner that ends to every subscription
// of the topic, without waiting for any of them.
func (s *Server) feed(ctx context.Context, t *topic, w *jobs.CompletionWatcher) {
	defer s.feeds.Done()
	defer w.Close()
	var subs []*subscription
	for {
		j, err := w.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("job completion feed failed", "topic", t.name, "err", err)
				s.failTopic(t)
			}
			return
		}
		uri := j.URI()
		s.mu.Lock()
		subs = subs[:0]
		for sub := range t.subs {
			subs = append(subs, sub)
		}
		s.mu.Unlock()
		for _, sub := range subs {
			sub.conn.deliver(sub, uri)
		}
		clear(subs)
	}
}

// failTopic disconnects the subscribers of a topic whose feed failed, so
// that none of them waits for messages that will not come.
func (s *Server) failTopic(t *topic) {
	s.mu.Lock()
	var conns []*conn
	for sub := range t.subs {
		conns = append(conns, sub.conn)
	}
	if s.topics[t.name] == t {
		delete(s.topics, t.name)
	}
	t.cancel()
	s.mu.Unlock()
	for _, c := range conns {
		c.fail(errorFrame(errFeed, nil))
	}
}

// osChannel is the OS message channel of the topic called name, if the
// server serves such channels and name is one.
func (s *Server) osChannel(name string) (osmsg.Channel, bool) {
	if s.cfg.OSMessages == nil {
		return osmsg.Channel{}, false
	}
	return s.cfg.OSMessages.Lookup(name)
}
