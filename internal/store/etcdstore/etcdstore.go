// Package etcdstore is a jobs.Store in an etcd cluster, under a key prefix
// of its own, so that several gateways may share one cluster. Every write
// is one etcd transaction that writes the job and its index entries
// together; the job's revisions are etcd's own, so cursors taken at one
// gateway process work at any other on the same cluster and prefix.
//
// Reads are linearizable. Errors of etcd never reach callers: a request
// that etcd does not answer within the request timeout (etcd down, no
// leader) fails with hmcerr.ErrUnavailable (503.1), its cause kept for the
// log; the client reconnects by itself, and watches resume at the
// revision after the last change they delivered.
package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/hmcerr"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// DefaultRequestTimeout bounds each request to etcd when Config leaves it
// zero.
const DefaultRequestTimeout = 5 * time.Second

// ErrUnavailable is what every method answers when etcd cannot serve it.
var ErrUnavailable = hmcerr.ErrUnavailable.WithMessage("The gateway's job store cannot be reached now.")

// Config configures a Store.
type Config struct {
	// Client is the etcd client; the Store does not close it. Required.
	Client *clientv3.Client
	// Prefix leads every key of the store, for example "/bcpii/"; gateways
	// sharing a cluster under different prefixes see different jobs.
	Prefix string
	// RequestTimeout bounds each request; zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Clock times the requests; zero means the system clock.
	Clock clock.Clock
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
}

// Store is a jobs.Store in etcd. Use New to get one.
type Store struct {
	cli     *clientv3.Client
	keys    keys
	timeout time.Duration
	clock   clock.Clock
	log     *slog.Logger
	// seen is the highest etcd revision any response has shown: every
	// change a caller of this Store has seen committed at or before it.
	seen atomic.Int64
	// cache answers GetOwned for the jobs it holds once CacheJobs runs.
	cache jobCache
	// endSpan is the span of end times EndedBefore reads first, in
	// nanoseconds: the last read's guess to hold two pages.
	endSpan atomic.Int64
}

var _ jobs.Store = (*Store)(nil)

// errTimeout is the cause of a request that ran out of time.
var errTimeout = errors.New("etcdstore: etcd did not answer within the request timeout")

// New returns a Store over cfg.Client. It checks, or writes, the layout
// version under the prefix, so it needs etcd to answer.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, errors.New("etcdstore: Config.Client is required")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cli: cfg.Client, keys: keys{cfg.Prefix}, timeout: cfg.RequestTimeout, clock: cfg.Clock, log: cfg.Logger}
	rctx, done := s.request(ctx)
	defer done()
	k := s.keys.format()
	resp, err := s.cli.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, formatVersion)).
		Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return nil, fmt.Errorf("etcdstore: open prefix %q: %w", cfg.Prefix, err)
	}
	s.observe(resp.Header)
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) != 1 || string(kvs[0].Value) != formatVersion {
			return nil, fmt.Errorf("etcdstore: prefix %q holds an unsupported layout, want %s", cfg.Prefix, formatVersion)
		}
	}
	return s, nil
}

// Client is the store's etcd client.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the key prefix of the store.
func (s *Store) Prefix() string { return s.keys.prefix }

// request bounds one request by the request timeout, on the store's clock.
func (s *Store) request(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	t := s.clock.AfterFunc(s.timeout, func() { cancel(errTimeout) })
	return ctx, func() {
		t.Stop()
		cancel(nil)
	}
}

type header interface{ GetRevision() int64 }

func (s *Store) observe(h header) {
	if h == nil {
		return
	}
	rev := h.GetRevision()
	for {
		cur := s.seen.Load()
		if rev <= cur || s.seen.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// wrap leaves the errors of the Store contract, the caller's own context
// errors and nil as they are, and turns any other into ErrUnavailable.
// The cause kept for the log is flattened to its text: what the etcd
// client returns wraps gRPC statuses and context errors, which must not
// decide the caller's answer (a request that ran out of the store's time
// is 503.1, not "canceled").
func (s *Store) wrap(ctx context.Context, op, id string, err error) error {
	switch {
	case err == nil, errors.Is(err, jobs.ErrNoJob), errors.Is(err, jobs.ErrExists), errors.Is(err, jobs.ErrConflict):
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrFenced):
		return ErrUnavailable.WithCause(ErrFenced)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return jobs.ErrStoreFull.WithCause(fmt.Errorf("etcdstore: %s %s under %q: %s", op, id, s.keys.prefix, err.Error()))
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		err = errTimeout
	}
	if id != "" {
		op += " " + id
	}
	return ErrUnavailable.WithCause(fmt.Errorf("etcdstore: %s under %q: %s", op, s.keys.prefix, err.Error()))
}

// indexOps are the index writes that take a job from old to j; nil stands
// for no job (a create, a delete). No key is written twice, as etcd
// requires of a transaction.
func (s *Store) indexOps(old, j *jobs.Job) []clientv3.Op {
	var ops []clientv3.Op
	var id string
	if j != nil {
		id = j.ID
	} else {
		id = old.ID
	}
	moved := ""
	if old != nil && j != nil {
		moved = be64(j.CreateRevision)
	}
	if old != nil && (j == nil || old.Owner != j.Owner) {
		ops = append(ops, clientv3.OpDelete(s.keys.owner(old.Owner, id)))
	}
	if j != nil && (old == nil || old.Owner != j.Owner) {
		ops = append(ops, clientv3.OpPut(s.keys.owner(j.Owner, id), moved))
	}
	oldEnd, newEnd := "", ""
	if old != nil && old.Status.Ended() {
		oldEnd = s.keys.end(*old)
	}
	if j != nil && j.Status.Ended() {
		newEnd = s.keys.end(*j)
	}
	if oldEnd != newEnd {
		if oldEnd != "" {
			ops = append(ops, clientv3.OpDelete(oldEnd))
		}
		if newEnd != "" {
			ops = append(ops, clientv3.OpPut(newEnd, ""))
		}
	}
	oldLive := old != nil && !old.Status.Ended()
	newLive := j != nil && !j.Status.Ended()
	switch {
	case oldLive && !newLive:
		ops = append(ops, clientv3.OpDelete(s.keys.liveOf(id)))
	case newLive && !oldLive:
		ops = append(ops, clientv3.OpPut(s.keys.liveOf(id), moved))
	}
	return ops
}

// Create adds j.
func (s *Store) Create(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	j = copyJob(j)
	created, err := s.create(ctx, j)
	return created, s.wrap(ctx, "create", j.ID, err)
}

func (s *Store) create(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	v, err := encode(j)
	if err != nil {
		return jobs.Job{}, err
	}
	rctx, done := s.request(ctx)
	defer done()
	k := s.keys.job(j.ID)
	ops := append([]clientv3.Op{clientv3.OpPut(k, v)}, s.indexOps(nil, &j)...)
	var resp *clientv3.TxnResponse
	tries, err := s.again(rctx, func(actx context.Context) (err error) {
		resp, err = s.cli.Txn(actx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).Then(ops...).Else(clientv3.OpGet(k)).Commit()
		return err
	})
	if err != nil {
		return jobs.Job{}, err
	}
	s.observe(resp.Header)
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if tries > 1 && len(kvs) == 1 && string(kvs[0].Value) == v {
			// An earlier try committed; its answer was lost.
			j.Revision, j.CreateRevision = kvs[0].ModRevision, kvs[0].CreateRevision
			return j, nil
		}
		return jobs.Job{}, jobs.ErrExists
	}
	j.Revision, j.CreateRevision = resp.Header.Revision, resp.Header.Revision
	return j, nil
}

// Get returns the job with the id.
func (s *Store) Get(ctx context.Context, id string) (jobs.Job, error) {
	j, err := s.get(ctx, id)
	return j, s.wrap(ctx, "get", id, err)
}

func (s *Store) get(ctx context.Context, id string, opts ...clientv3.OpOption) (jobs.Job, error) {
	rctx, done := s.request(ctx)
	defer done()
	resp, err := s.cli.Get(rctx, s.keys.job(id), opts...)
	if err != nil {
		return jobs.Job{}, err
	}
	s.observe(resp.Header)
	if len(resp.Kvs) == 0 {
		return jobs.Job{}, jobs.ErrNoJob
	}
	kv := resp.Kvs[0]
	return decode(id, kv.Value, kv.ModRevision, kv.CreateRevision)
}

// getForWrite reads the job with the id for a write guarded by its
// revision, which the caller read it at: serializably, answered by the
// member asked without a linearizable wait, since the guard refuses the
// write if the job has changed since revision. A member that has not
// applied revision yet answers an older copy or none: the job is then
// read linearizably.
func (s *Store) getForWrite(ctx context.Context, id string, revision int64) (jobs.Job, error) {
	if j, err := s.get(ctx, id, clientv3.WithSerializable()); err == nil && j.Revision >= revision {
		return j, nil
	}
	return s.get(ctx, id)
}

// GetOwned returns the job with the id if owner owns it. One transaction
// compares the owner's index entry for the id before it reads the job, so
// another owner's job and no job are one answer in one round trip, and
// the record of another's job is never read.
func (s *Store) GetOwned(ctx context.Context, owner jobs.Owner, id string) (jobs.Job, error) {
	if j, ok := s.cache.get(owner, id, s.clock.Now()); ok {
		return j, nil
	}
	j, rev, err := s.getOwned(ctx, owner, id)
	switch {
	case err == nil:
		s.cache.put(j, rev)
	case errors.Is(err, jobs.ErrNoJob):
		s.cache.missed(rev)
	}
	return j, s.wrap(ctx, "get", id, err)
}

// getOwned is GetOwned from etcd; it returns the revision read at too.
func (s *Store) getOwned(ctx context.Context, owner jobs.Owner, id string) (jobs.Job, int64, error) {
	rctx, done := s.request(ctx)
	defer done()
	var resp *clientv3.TxnResponse
	_, err := s.again(rctx, func(actx context.Context) (err error) {
		resp, err = s.cli.Txn(actx).
			If(clientv3.Compare(clientv3.Version(s.keys.owner(owner, id)), ">", 0)).
			Then(clientv3.OpGet(s.keys.job(id))).Commit()
		return err
	})
	if err != nil {
		return jobs.Job{}, 0, err
	}
	s.observe(resp.Header)
	if !resp.Succeeded {
		return jobs.Job{}, resp.Header.Revision, jobs.ErrNoJob
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return jobs.Job{}, 0, fmt.Errorf("owner index names job %s, which is missing", id)
	}
	j, err := decode(id, kvs[0].Value, kvs[0].ModRevision, kvs[0].CreateRevision)
	if err == nil && j.Owner != owner {
		return jobs.Job{}, 0, fmt.Errorf("owner index of job %s disagrees with its record", id)
	}
	return j, resp.Header.Revision, err
}

// Update replaces the stored job if its revision is still j.Revision.
func (s *Store) Update(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	j = copyJob(j)
	u, err := s.update(ctx, j, fenceOf(ctx))
	return u, s.wrap(ctx, "update", j.ID, err)
}

// update writes j over the stored job, in a transaction that also holds
// the compares in fence.
func (s *Store) update(ctx context.Context, j jobs.Job, fence []clientv3.Cmp) (jobs.Job, error) {
	old, err := s.getForWrite(ctx, j.ID, j.Revision)
	if err != nil {
		return jobs.Job{}, err
	}
	if old.Revision != j.Revision {
		s.cache.wrote(j.ID, s.seen.Load()) // the caller read a stale copy
		return jobs.Job{}, jobs.ErrConflict
	}
	j.CreateRevision = old.CreateRevision
	v, err := encode(j)
	if err != nil {
		return jobs.Job{}, err
	}
	ops := append([]clientv3.Op{clientv3.OpPut(s.keys.job(j.ID), v)}, s.indexOps(&old, &j)...)
	rev, err := s.commit(ctx, j.ID, j.Revision, fence, ops, &v)
	if err != nil {
		return jobs.Job{}, err
	}
	j.Revision = rev
	return j, nil
}

// ErrFenced is returned by a fenced write whose fence no longer holds.
var ErrFenced = errors.New("etcdstore: the write's fence no longer holds")

// commit runs ops if the job's record is still at revision rev and every
// compare of fence holds, and returns the transaction's revision. written
// is the record ops write, nil when they delete it: what an earlier try
// that committed, its answer lost, left.
func (s *Store) commit(ctx context.Context, id string, rev int64, fence []clientv3.Cmp, ops []clientv3.Op, written *string) (int64, error) {
	rctx, done := s.request(ctx)
	defer done()
	k := s.keys.job(id)
	// etcd compares a missing key's revision as 0: the record must exist.
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", rev), clientv3.Compare(clientv3.Version(k), ">", 0)}, fence...)
	// Whatever came of it, the job may have changed: the cache drops it,
	// and keeps out what was read before.
	defer func() { s.cache.wrote(id, s.seen.Load()) }()
	var resp *clientv3.TxnResponse
	// The first try reads only the key where its guard fails; a later
	// one reads the record too, to tell an earlier try's commit.
	orElse := clientv3.OpGet(k, clientv3.WithKeysOnly())
	tries, err := s.again(rctx, func(actx context.Context) (err error) {
		resp, err = s.cli.Txn(actx).If(cmps...).Then(ops...).Else(orElse).Commit()
		orElse = clientv3.OpGet(k)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.observe(resp.Header)
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if tries > 1 {
		switch {
		case written == nil && len(kvs) == 0:
			return resp.Header.Revision, nil
		case written != nil && len(kvs) == 1 && string(kvs[0].Value) == *written:
			return kvs[0].ModRevision, nil
		}
	}
	switch {
	case len(kvs) == 0:
		return 0, jobs.ErrNoJob
	case kvs[0].ModRevision != rev:
		return 0, jobs.ErrConflict
	default:
		return 0, ErrFenced
	}
}

// SweepPace has a retention sweep keep 16 deletes under way at once and
// start at most 500 a second (jobs.SweepPacer): a linearizable read waits
// until the writes committed before it apply, so a sweep's deletes delay
// every query. BenchmarkScale, the longest and the p99.9 query during the
// sweep: on 20,000 jobs, 50 and 27 ms with 64 deletes at once, 11 and 8 ms
// with 16; on a million, 54 and 47 ms with 16, 60 and 44 ms with 4, 54
// and 30 ms with 16 at 500 a second, against a longest of 24 to 29 ms in
// the 5 seconds before the sweep. Since EndedBefore reads bounded spans
// (see there), a median of 45 and 25 ms over five runs.
func (s *Store) SweepPace() (int, float64) { return 16, 500 }

var _ jobs.SweepPacer = (*Store)(nil)

// Delete removes j if its revision is still j.Revision, with the index
// entries j names, in one transaction and no read before it: the record
// at j.Revision is the one j was read as.
//
// The retention sweep deletes through here. Its delete read the job
// linearizably first until the sweep was given the jobs it deletes:
// BenchmarkScale on a million jobs, etcd 3.7 as a process of its own, two
// runs each: the p99.9 query during the sweep was 55 and 55 ms with that
// read, 42 and 40 ms without it (the longest 78 and 202 ms with it, 122
// and 78 without), and the sweep asks etcd half as much.
func (s *Store) Delete(ctx context.Context, j jobs.Job) error {
	ops := append([]clientv3.Op{clientv3.OpDelete(s.keys.job(j.ID))}, s.indexOps(&j, nil)...)
	_, err := s.commit(ctx, j.ID, j.Revision, fenceOf(ctx), ops, nil)
	return s.wrap(ctx, "delete", j.ID, err)
}

// copyJob returns j with its own copy of Results.
func copyJob(j jobs.Job) jobs.Job {
	if j.Results != nil {
		j.Results = slices.Clone(j.Results)
	}
	return j
}

// Secret returns the value kept under name in the store's prefix, first
// storing fresh there if there is none, so that every gateway on the
// prefix gets the same value.
func (s *Store) Secret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	rctx, done := s.request(ctx)
	defer done()
	k := s.keys.prefix + "meta/" + name
	resp, err := s.cli.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(fresh))).
		Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return nil, s.wrap(ctx, "secret", name, err)
	}
	s.observe(resp.Header)
	if resp.Succeeded {
		return fresh, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) != 1 || len(kvs[0].Value) != len(fresh) {
		return nil, fmt.Errorf("etcdstore: %s under %q is malformed", name, s.keys.prefix)
	}
	return kvs[0].Value, nil
}
