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

// EndedBefore returns up to limit ended jobs whose Ended is before t and
// which come after after, in end-time order, from the end-time index.
//
// etcd counts every key of a range it is asked for, whatever the limit: a
// read of the index from after up to t walks every entry ended before t
// and every entry deleted since the last compaction, and holds etcd's
// index while it does (at a million expired jobs a sweep's read took over
// 175 ms, and the queries beside it waited). So a read from after covers
// a span of end times twice that of the last full page read, and reads
// on, span by span, each four times the last, to t if it finds fewer. Only
// a read from the index's start reads to t at once.
func (s *Store) EndedBefore(ctx context.Context, t time.Time, after jobs.EndKey, limit int) ([]jobs.Job, error) {
	out, err := s.endedBefore(ctx, t, after, limit)
	return out, s.wrap(ctx, "ended before", "", err)
}

func (s *Store) endedBefore(ctx context.Context, t time.Time, after jobs.EndKey, limit int) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	end := s.keys.endedAt(t)
	from, span := s.keys.ended(), time.Duration(0)
	if after != (jobs.EndKey{}) {
		from, span = s.keys.endedAt(after.Ended)+after.ID+"\x00", cmp.Or(time.Duration(s.endSpan.Load()), time.Second)
	}
	var idList []string
	var first string // the first key read
	var rev int64
	for from < end && len(idList) < limit {
		hi := end
		if lo, ok := s.keys.endTimeOf(from); ok && span > 0 {
			hi = min(end, s.keys.endedAt(lo.Add(span)))
		}
		resp, err := s.endKeys(ctx, from, hi, limit-len(idList), rev)
		if err != nil {
			return nil, err
		}
		rev = resp.Header.Revision
		if first == "" && len(resp.Kvs) > 0 {
			first = string(resp.Kvs[0].Key)
		}
		for _, kv := range resp.Kvs {
			if len(kv.Key) < len(s.keys.ended())+endTimeLen {
				return nil, fmt.Errorf("end-time index key %x is too short", kv.Key)
			}
			idList = append(idList, string(kv.Key[len(s.keys.ended())+endTimeLen:]))
		}
		if len(idList) == limit { // two pages' span next time
			lo, _ := s.keys.endTimeOf(first)
			top, _ := s.keys.endTimeOf(string(resp.Kvs[len(resp.Kvs)-1].Key))
			s.endSpan.Store(int64(max(2*top.Sub(lo), time.Millisecond)))
		}
		from, span = hi, widen(span)
	}
	return s.fetch(ctx, rev, idList)
}

// widen is the span of end times a read of the end-time index covers
// after one of span found too few: four times span, or all up to the
// cutoff (0) once that would be more than about 36 years.
func widen(span time.Duration) time.Duration {
	if span <= 0 || span >= 1<<60 {
		return 0
	}
	return 4 * span
}

// endKeys reads up to limit end-time index keys in [from, to), at
// revision rev if it is not zero.
func (s *Store) endKeys(ctx context.Context, from, to string, limit int, rev int64) (*clientv3.GetResponse, error) {
	rctx, done := s.request(ctx)
	defer done()
	resp, err := s.cli.Get(rctx, from, clientv3.WithRange(to), clientv3.WithLimit(int64(limit)), clientv3.WithKeysOnly(), clientv3.WithRev(rev))
	if err != nil {
		return nil, err
	}
	s.observe(resp.Header)
	return resp, nil
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
