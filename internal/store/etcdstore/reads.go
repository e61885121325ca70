package etcdstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// fetchBatch is how many jobs one read transaction fetches; etcd limits
// the operations of a transaction (128 by default).
const fetchBatch = 100

// entry is an index entry: the job it names and that job's CreateRevision.
type entry struct {
	id  string
	rev int64
}

// entries reads the index entries under dir whose job's CreateRevision is
// above after, in CreateRevision order, and the revision they were read at.
func (s *Store) entries(ctx context.Context, dir string, after int64) ([]entry, int64, error) {
	rctx, done := s.request(ctx)
	defer done()
	resp, err := s.cli.Get(rctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	s.observe(resp.Header)
	out := make([]entry, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		e := entry{id: idOf(kv.Key, []byte(dir)), rev: entryRevision(kv.Value, kv.CreateRevision)}
		if e.rev > after {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return cmp.Compare(a.rev, b.rev) })
	return out, resp.Header.Revision, nil
}

// fetch reads the jobs with the ids as they were at revision rev, a
// revision a linearizable read returned.
func (s *Store) fetch(ctx context.Context, rev int64, ids []string) ([]jobs.Job, error) {
	out := make([]jobs.Job, 0, len(ids))
	for chunk := range slices.Chunk(ids, fetchBatch) {
		resp, err := s.atRevision(ctx, rev, chunk)
		if err != nil {
			return nil, err
		}
		s.observe(resp.Header)
		for i, r := range resp.Responses {
			kvs := r.GetResponseRange().Kvs
			if len(kvs) == 0 {
				return nil, fmt.Errorf("an index names job %s, which is missing", chunk[i])
			}
			j, err := decode(chunk[i], kvs[0].Value, kvs[0].ModRevision, kvs[0].CreateRevision)
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		}
	}
	return out, nil
}

// List returns a page of q.Owner's jobs in CreateRevision order. It reads
// the owner's index entries and then only the jobs of the page.
func (s *Store) List(ctx context.Context, q jobs.ListQuery) ([]jobs.Job, error) {
	out, err := s.list(ctx, q)
	return out, s.wrap(ctx, "list", "", err)
}

func (s *Store) list(ctx context.Context, q jobs.ListQuery) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 || q.After == math.MaxInt64 {
		return nil, nil
	}
	es, rev, err := s.entries(ctx, s.keys.owners(q.Owner), q.After)
	if err != nil {
		return nil, err
	}
	var out []jobs.Job
	for len(es) > 0 && len(out) < q.Limit {
		n := min(len(es), max(q.Limit-len(out), fetchBatch))
		if q.Status == "" {
			n = min(len(es), q.Limit-len(out))
		}
		page, err := s.fetch(ctx, rev, ids(es[:n]))
		if err != nil {
			return nil, err
		}
		es = es[n:]
		for _, j := range page {
			if q.Status != "" && j.Status != q.Status {
				continue
			}
			out = append(out, j)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

// atRevision reads the jobs with the ids, at most fetchBatch, as they
// were at revision rev. What a key held at a revision never changes (until
// compacted), so the read needs no linearizable wait: serializable, it is
// answered by the member asked from what it has applied, and does not wait
// behind writes committed after rev, such as a sweep's deletes. A member
// that has not applied rev yet refuses (ErrFutureRev); the read is then
// made linearizable, which waits until it has.
func (s *Store) atRevision(ctx context.Context, rev int64, ids []string) (*clientv3.TxnResponse, error) {
	var resp *clientv3.TxnResponse
	tries := [][]clientv3.OpOption{
		{clientv3.WithRev(rev), clientv3.WithSerializable()},
		{clientv3.WithRev(rev)},
	}
	rctx, done := s.request(ctx) // both tries within the request's time
	defer done()
	for _, opts := range tries {
		ops := make([]clientv3.Op, len(ids))
		for i, id := range ids {
			ops[i] = clientv3.OpGet(s.keys.job(id), opts...)
		}
		_, err := s.again(rctx, func(actx context.Context) (err error) {
			resp, err = s.cli.Txn(actx).Then(ops...).Commit()
			return err
		})
		if !errors.Is(err, rpctypes.ErrFutureRev) {
			return resp, err
		}
	}
	return nil, fmt.Errorf("revision %d is still ahead of the member asked", rev)
}

func ids(es []entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.id
	}
	return out
}

// EndedBefore returns up to limit ended jobs whose Ended is before t,
// oldest first, from the end-time index.
func (s *Store) EndedBefore(ctx context.Context, t time.Time, limit int) ([]jobs.Job, error) {
	out, err := s.endedBefore(ctx, t, limit)
	return out, s.wrap(ctx, "ended before", "", err)
}

func (s *Store) endedBefore(ctx context.Context, t time.Time, limit int) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rctx, done := s.request(ctx)
	dir := s.keys.ended()
	resp, err := s.cli.Get(rctx, dir, clientv3.WithRange(s.keys.endedAt(t)), clientv3.WithLimit(int64(limit)), clientv3.WithKeysOnly())
	done()
	if err != nil {
		return nil, err
	}
	s.observe(resp.Header)
	var idList []string
	for _, kv := range resp.Kvs {
		if len(kv.Key) < len(dir)+endTimeLen {
			return nil, fmt.Errorf("end-time index key %x is too short", kv.Key)
		}
		idList = append(idList, string(kv.Key[len(dir)+endTimeLen:]))
	}
	return s.fetch(ctx, resp.Header.Revision, idList)
}

// Unended returns up to limit jobs not ended whose CreateRevision is above
// after, in CreateRevision order, from the index of such jobs.
func (s *Store) Unended(ctx context.Context, after int64, limit int) ([]jobs.Job, error) {
	out, err := s.unended(ctx, after, limit)
	return out, s.wrap(ctx, "unended", "", err)
}

func (s *Store) unended(ctx context.Context, after int64, limit int) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || after == math.MaxInt64 {
		return nil, nil
	}
	es, rev, err := s.entries(ctx, s.keys.live(), after)
	if err != nil {
		return nil, err
	}
	if len(es) > limit {
		es = es[:limit]
	}
	return s.fetch(ctx, rev, ids(es))
}
