package etcdstore

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// sessionCache keeps the session records a replica has read, kept current
// by a watch on the session keys: a session that is logged off or lapses
// on any replica leaves every cache as soon as the watch tells of it.
// While the watch is not established (at start, after an error) the cache
// serves nothing and every lookup reads etcd.
type sessionCache struct {
	mu sync.Mutex
	// ready says the watch runs and every change after applied is still
	// to come through it.
	ready   bool
	applied int64 // the revision of the last change the watch applied
	records map[string]bcpii.SessionRecord
}

// get returns the cached record under key.
func (c *sessionCache) get(key string) (bcpii.SessionRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return bcpii.SessionRecord{}, false
	}
	r, ok := c.records[key]
	return r, ok
}

// put caches r, read at revision rev, unless the watch has applied a
// change after rev: that change may be r's removal, so r may be stale.
func (c *sessionCache) put(key string, r bcpii.SessionRecord, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready && rev >= c.applied {
		c.records[key] = r
	}
}

func (c *sessionCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.records, key)
}

// reset empties the cache and stops it serving until the watch is back.
func (c *sessionCache) reset(ready bool, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready, c.applied, c.records = ready, rev, map[string]bcpii.SessionRecord{}
}

// run keeps the cache current until ctx ends, watching again after an
// error.
func (c *sessionCache) run(ctx context.Context, s *Store, prefix string) {
	for ctx.Err() == nil {
		c.watch(ctx, s, prefix)
		c.reset(false, 0)
		t := s.clock.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C():
		}
	}
}

func (c *sessionCache) watch(ctx context.Context, s *Store, prefix string) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify()) {
		if err := resp.Err(); err != nil {
			s.log.Warn("session cache: the watch failed; sessions are read from etcd until it is back", "err", err)
			return
		}
		if resp.Created {
			// Everything read from now on is at least as new as the
			// watch's start; nothing cached before it is kept.
			c.reset(true, resp.Header.Revision)
			continue
		}
		c.mu.Lock()
		for _, ev := range resp.Events {
			// A put is a record written again: read it anew.
			delete(c.records, string(ev.Kv.Key))
			c.applied = max(c.applied, ev.Kv.ModRevision)
		}
		c.applied = max(c.applied, resp.Header.Revision)
		c.mu.Unlock()
	}
}

// cachedGet is Get served from the cache where it can be.
func (t *Sessions) cachedGet(ctx context.Context, key string) (bcpii.SessionRecord, bool, error) {
	if r, ok := t.cache.get(key); ok {
		return r, true, nil
	}
	resp, err := t.s.cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return bcpii.SessionRecord{}, false, err
	}
	t.s.observe(resp.Header)
	var r bcpii.SessionRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		return bcpii.SessionRecord{}, false, err
	}
	t.cache.put(key, r, resp.Header.Revision)
	return r, true, nil
}
