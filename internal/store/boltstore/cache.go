package boltstore

import (
	"sync"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// cacheSize is the most decoded jobs the store keeps in memory.
const cacheSize = 16 << 10

// cache holds decoded jobs, so that reading a job again costs neither a
// transaction nor a JSON decode. The store's own commits keep it current
// (the file is this process's alone: Open holds its lock). A read that
// misses decodes from the file and fills the entry only if no commit ran
// meanwhile (gen), so that a value read before a commit cannot replace the
// one the commit wrote. When full, an arbitrary entry makes room.
type cache struct {
	mu   sync.RWMutex
	gen  uint64
	size int // the most jobs held
	jobs map[string]jobs.Job
}

func newCache(size int) *cache { return &cache{size: size, jobs: make(map[string]jobs.Job)} }

// get returns the cached job with the id, and the generation to pass to
// fill when there is none.
func (c *cache) get(id string) (jobs.Job, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	j, ok := c.jobs[id]
	return j, ok, c.gen
}

// peek returns a copy of the cached job with the id.
func (c *cache) peek(id string) (jobs.Job, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	j, ok := c.jobs[id]
	return copyJob(j), ok
}

// fill caches j, read from the file at generation gen.
func (c *cache) fill(j jobs.Job, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.put(j)
}

func (c *cache) put(j jobs.Job) {
	if c.size == 0 {
		return
	}
	if _, ok := c.jobs[j.ID]; !ok && len(c.jobs) >= c.size {
		for id := range c.jobs {
			delete(c.jobs, id)
			break
		}
	}
	c.jobs[j.ID] = copyJob(j)
}

// begin, apply and end bracket the changes of one commit.
func (c *cache) begin() {
	c.mu.Lock()
	c.gen++
}

func (c *cache) apply(ch jobs.Change) {
	if ch.Deleted {
		delete(c.jobs, ch.Job.ID)
		return
	}
	c.put(ch.Job) // what was just written is what is read next
}

func (c *cache) end() { c.mu.Unlock() }
