package upstream

import (
	"context"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Claimer decides which of several gateway replicas on one store follows
// a job, so that each running upstream job is polled by exactly one. The
// etcd store's Claims is one.
type Claimer interface {
	// Claim takes the job for this replica unless another holds it. The
	// returned context ends when the claim is lost, and fences the job's
	// writes made with it; release gives the claim up.
	Claim(ctx context.Context, jobID string) (claimed context.Context, release func(), ok bool, err error)
	// Held returns the ids of the jobs some replica holds.
	Held(ctx context.Context) (map[string]bool, error)
	// Vacated signals when a job may have lost its follower.
	Vacated() <-chan struct{}
}

// minRescan spaces the searches for jobs without a follower, which end
// jobs' released claims trigger too. It is short beside any poll interval,
// so that a dead replica's jobs are taken over within the lease TTL and
// one poll interval.
const minRescan = 250 * time.Millisecond

// followed are the jobs this process follows.
type followed struct {
	mu  sync.Mutex
	ids map[string]bool
}

// add marks id followed and reports whether it was not yet.
func (f *followed) add(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = make(map[string]bool)
	}
	if f.ids[id] {
		return false
	}
	f.ids[id] = true
	return true
}

func (f *followed) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ids, id)
}

func (f *followed) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ids[id]
}

// start follows j unless this process already does, or, with replicas,
// another replica holds it. It reports whether j is looked after, which
// is false only for a job of an earlier run, without replicas, that names
// no upstream job: Recover ends that one. The first query is after first.
func (c *Client) start(ctx context.Context, wg *sync.WaitGroup, j jobs.Job, first time.Duration) bool {
	if c.cfg.Claims == nil {
		if j.BackendRef == "" {
			return false
		}
		if c.following.add(j.ID) {
			wg.Go(func() {
				defer c.following.remove(j.ID)
				c.follow(ctx, j, first)
			})
		}
		return true
	}
	if c.following.has(j.ID) {
		return true
	}
	claimed, release, ok, err := c.cfg.Claims.Claim(ctx, j.ID)
	if err != nil {
		if ctx.Err() == nil {
			c.log.WarnContext(ctx, "job not claimed; another search will try again", "job", j.ID, "err", err)
		}
		return true
	}
	if !ok {
		return true
	}
	// Read the job anew under the claim: its last holder may have ended it.
	cur, err := c.reg.Get(claimed, jobs.Caller{Owner: j.Owner}, j.ID)
	switch {
	case err != nil || cur.Status.Ended():
		release()
		return true
	case cur.BackendRef == "":
		c.finish(context.WithoutCancel(claimed), cur, unfollowableResult)
		release()
		return true
	case !c.following.add(cur.ID):
		release()
		return true
	}
	wg.Go(func() {
		defer release()
		defer c.following.remove(cur.ID)
		c.follow(claimed, cur, first)
	})
	return true
}

// rescan claims the jobs not ended that no replica follows, such as those
// of a replica that died.
func (c *Client) rescan(ctx context.Context, wg *sync.WaitGroup) error {
	held, err := c.cfg.Claims.Held(ctx)
	if err != nil {
		return err
	}
	taken := 0
	_, err = c.reg.Recover(ctx, func(j jobs.Job) bool {
		if held[j.ID] || c.following.has(j.ID) {
			return true
		}
		if c.start(ctx, wg, j, 0) && c.following.has(j.ID) {
			taken++
		}
		return true
	}, unfollowableResult)
	if taken > 0 {
		c.stats.takenOver.Add(int64(taken))
		c.log.InfoContext(ctx, "took over jobs that no replica followed", "count", taken)
	}
	return err
}

// vacated is the channel of Vacated, or nil without replicas.
func (c *Client) vacated() <-chan struct{} {
	if c.cfg.Claims == nil {
		return nil
	}
	return c.cfg.Claims.Vacated()
}

// handed is a job Invoke registered, with its claim when it took one.
type handed struct {
	id      string // chosen before the job exists; "" lets the registry choose
	job     jobs.Job
	claimed context.Context
	release func()
}

// preclaim claims a job id before the job exists, with replicas; without,
// or when the claim cannot be made now, the job is created unclaimed and
// the searches for jobs without a follower find it.
func (c *Client) preclaim(ctx context.Context) handed {
	if c.cfg.Claims == nil {
		return handed{}
	}
	id := jobs.NewID()
	claimed, release, ok, err := c.cfg.Claims.Claim(ctx, id)
	if err != nil || !ok {
		c.log.WarnContext(ctx, "new job not claimed at once; a search will find it", "err", err)
		return handed{}
	}
	c.stats.newClaims.Add(1)
	return handed{id: id, claimed: claimed, release: release}
}

// drop gives up a claim that no job came of.
func (h handed) drop() {
	if h.release != nil {
		h.release()
	}
}

// followClaimed follows a job this replica claimed before it existed,
// until the claim is lost or Run stops.
func (c *Client) followClaimed(ctx context.Context, wg *sync.WaitGroup, h handed) {
	if !c.following.add(h.job.ID) {
		h.release()
		return
	}
	fctx, cancel := context.WithCancel(h.claimed)
	stop := context.AfterFunc(ctx, cancel)
	wg.Go(func() {
		defer h.release()
		defer cancel()
		defer stop()
		defer c.following.remove(h.job.ID)
		c.follow(fctx, h.job, c.delay(c.interval()))
	})
}
