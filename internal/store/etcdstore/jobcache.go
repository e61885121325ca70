package etcdstore

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// maxCachedJobs and maxCachedBytes bound the job cache; past them, a job
// read makes room by dropping others. A job's size is its results' plus
// jobOverhead for the rest.
const (
	maxCachedJobs  = 1 << 16
	maxCachedBytes = 64 << 20
	jobOverhead    = 512
)

// The cache asks its watch for progress every cacheProgressEvery and
// serves only while it heard from etcd within cacheTrust: a replica cut
// off from etcd stops answering from it then, and its callers are told
// etcd cannot be reached (503.1) rather than served what may be stale.
const (
	cacheProgressEvery = 500 * time.Millisecond
	cacheTrust         = 1500 * time.Millisecond
)

// jobCache keeps the jobs a replica's callers have read, so that reading
// one again does not wait on etcd. A watch of the job keys keeps it
// current: a job that changes or goes, by any replica, leaves the cache as
// soon as the watch tells of it, and is read from etcd again when next
// asked for; an ended job never changes, so it stays until it expires or
// is deleted. Another replica's change is seen here once the watch
// delivers it (milliseconds); this replica's own writes take effect at
// once. What the cache answers for a job is never older than what this
// replica answered for it before. While the watch is not established (at
// start, after an error) the cache serves nothing.
type jobCache struct {
	mu sync.Mutex
	// ready says the watch runs and every change after floor is still to
	// come through it.
	ready bool
	// floor is the revision of the last change the watch applied, or of
	// this replica's last write, if later: a job read before it may be
	// stale, and is not cached.
	floor int64
	// heard is when the watch last answered, with a change or progress.
	heard time.Time
	jobs  map[string]jobs.Job
	bytes int // the jobs' sizes, summed
}

func jobSize(j jobs.Job) int { return len(j.Results) + jobOverhead }

// set caches j in place of what the cache holds under its id; c.mu is
// held.
func (c *jobCache) set(j jobs.Job) {
	c.drop(j.ID)
	for len(c.jobs) >= maxCachedJobs || c.bytes+jobSize(j) > maxCachedBytes {
		for id := range c.jobs { // a map's order: any one
			c.drop(id)
			break
		}
	}
	c.jobs[j.ID] = copyJob(j)
	c.bytes += jobSize(j)
}

// drop forgets the job with the id; c.mu is held.
func (c *jobCache) drop(id string) {
	if j, ok := c.jobs[id]; ok {
		c.bytes -= jobSize(j)
		delete(c.jobs, id)
	}
}

// get returns the cached job with the id if owner owns it. A job of
// another owner is not answered here, so that it costs what a missing
// job costs.
func (c *jobCache) get(owner jobs.Owner, id string, now time.Time) (jobs.Job, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j, ok := c.jobs[id]
	if !ok || !c.ready || j.Owner != owner || now.Sub(c.heard) > cacheTrust {
		return jobs.Job{}, false
	}
	return copyJob(j), true
}

// put caches j, read at revision rev: over an older copy of j, or, with
// none, unless a change after rev was applied, written or read: that
// change may be j's own, so j may be stale. Every answer read from etcd
// thus leaves the cache holding the job at least as new, or nothing that
// could be older.
func (c *jobCache) put(j jobs.Job, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return
	}
	if old, ok := c.jobs[j.ID]; ok {
		if j.Revision > old.Revision {
			c.set(j)
		}
		return
	}
	if rev < c.floor {
		return
	}
	c.set(j)
}

// missed notes an answer of no job read at revision rev: no copy read
// before rev may be cached after it.
func (c *jobCache) missed(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.floor = max(c.floor, rev)
}

// wrote drops the job with the id, which this replica wrote at revision
// rev, and keeps reads from before rev out.
func (c *jobCache) wrote(id string, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop(id)
	c.floor = max(c.floor, rev)
}

// reset empties the cache and sets whether it serves.
func (c *jobCache) reset(ready bool, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready, c.floor, c.jobs, c.bytes = ready, rev, map[string]jobs.Job{}, 0
}

// CacheJobs starts the job cache, kept current until ctx ends; from its
// watch's start, GetOwned answers the jobs it holds without etcd.
func (s *Store) CacheJobs(ctx context.Context) {
	go func() {
		for ctx.Err() == nil {
			s.watchJobs(ctx)
			s.cache.reset(false, 0)
			t := s.clock.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C():
			}
		}
	}()
}

func (s *Store) watchJobs(ctx context.Context) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	prefix := s.keys.jobs()
	wch := s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify(), clientv3.WithKeysOnly())
	go func() {
		for wctx.Err() == nil {
			_ = s.cli.RequestProgress(wctx)
			t := s.clock.NewTimer(cacheProgressEvery)
			select {
			case <-wctx.Done():
				t.Stop()
			case <-t.C():
			}
		}
	}()
	for resp := range wch {
		if err := resp.Err(); err != nil {
			s.log.Warn("job cache: the watch failed; jobs are read from etcd until it is back", "err", err)
			return
		}
		if resp.Created {
			// Everything read from now on is at least as new as the
			// watch's start; nothing cached before it is kept.
			s.cache.reset(true, resp.Header.Revision)
		}
		c := &s.cache
		c.mu.Lock()
		c.heard = s.clock.Now()
		for _, ev := range resp.Events {
			c.drop(string(ev.Kv.Key[len(prefix):]))
			c.floor = max(c.floor, ev.Kv.ModRevision)
		}
		c.floor = max(c.floor, resp.Header.Revision)
		c.mu.Unlock()
	}
}
