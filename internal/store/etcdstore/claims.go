package etcdstore

import (
	"context"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultLeaseTTL is how long a replica's claims outlive it when Claims is
// given no TTL.
const DefaultLeaseTTL = 10 * time.Second

// Claims decide which replica follows which running job. Each replica
// holds one etcd session (a lease kept alive while the process lives);
// following a job means holding its claim key, P c/<job id>, created
// under that lease by a transaction that succeeds only if the key is
// absent, so exactly one replica holds it. Writes made under a claim are
// fenced: their transaction also compares the claim key's lease, so a
// replica whose lease lapsed cannot write the job any more. When a
// replica dies its lease lapses within the TTL, etcd deletes its claim
// keys, and the others, which watch the claims, take the jobs over.
//
// Per-job keys under a per-replica lease were chosen over a sharded
// assignment: a claim is exactly one job, taken and fenced in one
// transaction, and no rebalancing protocol is needed when replicas come
// and go; the cost is one small key per running job and one lease per
// replica.
type Claims struct {
	s    *Store
	ttl  time.Duration
	name string

	mu    sync.Mutex
	cur   *epoch
	ready chan struct{} // closed once the first session is held
	// signal tells the follower to look for jobs without a follower.
	signal chan struct{}
}

// epoch is one session of the replica; its claims end with it.
type epoch struct {
	lease clientv3.LeaseID
	done  <-chan struct{}
}

// Claims returns the claims of a replica called name (for operators; it
// is the claim keys' value) whose lease lapses ttl after it stops
// renewing it; zero means DefaultLeaseTTL. Run keeps the lease.
func (s *Store) Claims(name string, ttl time.Duration) *Claims {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	return &Claims{s: s, ttl: ttl, name: name, ready: make(chan struct{}), signal: make(chan struct{}, 1)}
}

func (c *Claims) key(id string) string { return c.s.keys.prefix + "c/" + id }
func (c *Claims) dir() string          { return c.s.keys.prefix + "c/" }

// TTL is the lease's time to live.
func (c *Claims) TTL() time.Duration { return c.ttl }

func (c *Claims) notify() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Vacated signals when jobs may have lost their follower: a claim was
// deleted (its holder released it or died), this replica has a new
// session, or a TTL passed. There is one receiver.
func (c *Claims) Vacated() <-chan struct{} { return c.signal }

// Run holds a session until ctx ends, starting a new one whenever the
// last lapses; on return it revokes the lease, so that other replicas take
// its jobs over at once.
func (c *Claims) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.watchDeletes(ctx) })
	wg.Go(func() { c.tick(ctx) })
	for ctx.Err() == nil {
		sess, err := concurrency.NewSession(c.s.cli, concurrency.WithTTL(int(c.ttl.Seconds())), concurrency.WithContext(ctx))
		if err != nil {
			if ctx.Err() == nil {
				c.s.log.Warn("no etcd session for the claims on jobs; trying again", "err", err)
				c.wait(ctx, time.Second)
			}
			continue
		}
		c.mu.Lock()
		c.cur = &epoch{lease: sess.Lease(), done: sess.Done()}
		if c.ready != nil {
			close(c.ready)
			c.ready = nil
		}
		c.mu.Unlock()
		c.s.log.Info("holding an etcd lease for the claims on jobs", "lease", int64(sess.Lease()), "ttl", c.ttl)
		c.notify()
		select {
		case <-ctx.Done():
			rctx, done := c.s.request(context.WithoutCancel(ctx))
			_, _ = c.s.cli.Revoke(rctx, sess.Lease())
			done()
			sess.Orphan()
			return
		case <-sess.Done():
			c.s.log.Warn("the etcd lease of the claims on jobs lapsed; its jobs pass to other replicas", "lease", int64(sess.Lease()))
		}
	}
}

func (c *Claims) wait(ctx context.Context, d time.Duration) {
	t := c.s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	}
}

func (c *Claims) tick(ctx context.Context) {
	for ctx.Err() == nil {
		c.wait(ctx, c.ttl)
		c.notify()
	}
}

func (c *Claims) watchDeletes(ctx context.Context) {
	for ctx.Err() == nil {
		for resp := range c.s.cli.Watch(ctx, c.dir(), clientv3.WithPrefix(), clientv3.WithFilterPut()) {
			if resp.Err() != nil {
				break
			}
			if len(resp.Events) > 0 {
				c.notify()
			}
		}
		c.wait(ctx, rewatchDelay)
	}
}

func (c *Claims) epoch(ctx context.Context) (*epoch, error) {
	c.mu.Lock()
	ready := c.ready
	c.mu.Unlock()
	if ready != nil {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur, nil
}

// fence is a condition every write under a claim carries.
type fence struct{ cmp clientv3.Cmp }

type fenceKey struct{}

func fenceOf(ctx context.Context) []clientv3.Cmp {
	if f, ok := ctx.Value(fenceKey{}).(fence); ok {
		return []clientv3.Cmp{f.cmp}
	}
	return nil
}

// Claim takes the job for this replica if no replica holds it. The
// returned context ends when the claim is lost (the lease lapsed) or
// released, and fences the Store's writes made with it, or with a context
// derived from it, to the claim's holder. release gives the claim up.
func (c *Claims) Claim(ctx context.Context, id string) (claimed context.Context, release func(), ok bool, err error) {
	ep, err := c.epoch(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	select {
	case <-ep.done:
		return nil, nil, false, ErrUnavailable.WithCause(ErrFenced)
	default:
	}
	k := c.key(id)
	rctx, done := c.s.request(ctx)
	// A try that committed, its answer lost, leaves the claim under
	// this replica's lease: the next try finds it so, and it is ours.
	var resp *clientv3.TxnResponse
	_, err = c.s.again(rctx, func(actx context.Context) (err error) {
		resp, err = c.s.cli.Txn(actx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, c.name, clientv3.WithLease(ep.lease))).
			Else(clientv3.OpGet(k)).Commit()
		return err
	})
	done()
	if err != nil {
		return nil, nil, false, c.s.wrap(ctx, "claim", id, err)
	}
	c.s.observe(resp.Header)
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 || clientv3.LeaseID(kvs[0].Lease) != ep.lease {
			return nil, nil, false, nil
		}
	}
	cctx, cancel := context.WithCancel(context.WithValue(ctx, fenceKey{}, fence{clientv3.Compare(clientv3.LeaseValue(k), "=", ep.lease)}))
	go func() {
		select {
		case <-ep.done:
			cancel()
		case <-cctx.Done():
		}
	}()
	release = func() {
		cancel()
		rctx, done := c.s.request(context.WithoutCancel(ctx))
		defer done()
		_, _ = c.s.again(rctx, func(actx context.Context) error {
			_, err := c.s.cli.Txn(actx).If(clientv3.Compare(clientv3.LeaseValue(k), "=", ep.lease)).Then(clientv3.OpDelete(k)).Commit()
			return err
		})
	}
	return cctx, release, true, nil
}

// Held returns the ids of the jobs some replica holds a claim on.
func (c *Claims) Held(ctx context.Context) (map[string]bool, error) {
	rctx, done := c.s.request(ctx)
	defer done()
	resp, err := c.s.cli.Get(rctx, c.dir(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, c.s.wrap(ctx, "claims", "", err)
	}
	c.s.observe(resp.Header)
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), c.dir())] = true
	}
	return out, nil
}

// Lead runs f while this process is the leader of the election called
// name under the store's prefix, once per cluster: another process runs
// it only after this one's session ends. f's context ends when the
// leadership does.
func (s *Store) Lead(ctx context.Context, name string, ttl time.Duration, f func(ctx context.Context)) {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	for ctx.Err() == nil {
		sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(int(ttl.Seconds())), concurrency.WithContext(ctx))
		if err != nil {
			t := s.clock.NewTimer(time.Second)
			select {
			case <-ctx.Done():
			case <-t.C():
			}
			t.Stop()
			continue
		}
		e := concurrency.NewElection(sess, s.keys.prefix+"lead/"+name)
		if err := e.Campaign(ctx, ""); err == nil {
			lctx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-sess.Done():
					cancel()
				case <-lctx.Done():
				}
			}()
			s.log.Info("leading", "task", name)
			f(lctx)
			cancel()
		}
		rctx, done := s.request(context.WithoutCancel(ctx))
		_, _ = s.cli.Revoke(rctx, sess.Lease())
		done()
		sess.Orphan()
	}
}
