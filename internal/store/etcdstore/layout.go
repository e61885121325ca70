package etcdstore

import (
	"context"
	"encoding/binary"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// rankPage is how many owner index entries rankAll reads, and ranks in
// one transaction, at a time.
const rankPage = 100

// rankAll brings a prefix of layout 1, which had no creation-order index,
// to layout 2: it writes the r/ entry of every o/ entry, each only if
// that o/ entry is still there as read (a job deleted meanwhile gets
// none), and then the new layout version. A start cut short leaves layout
// 1, and the next start does it again. Replicas of layout 1 must all be
// stopped first: what they write is not ranked.
func (s *Store) rankAll(ctx context.Context) error {
	dir := s.keys.prefix + dirOwners
	end := clientv3.GetPrefixRangeEnd(dir)
	ranked := 0
	for from := dir; ; {
		rctx, done := s.request(ctx)
		resp, err := s.cli.Get(rctx, from, clientv3.WithRange(end), clientv3.WithLimit(rankPage))
		if err == nil && len(resp.Kvs) > 0 {
			err = s.rankPage(rctx, dir, resp.Kvs)
		}
		done()
		if err != nil {
			return err
		}
		ranked += len(resp.Kvs)
		if !resp.More {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	rctx, done := s.request(ctx)
	defer done()
	k := s.keys.format()
	if _, err := s.cli.Txn(rctx).If(clientv3.Compare(clientv3.Value(k), "=", "1")).Then(clientv3.OpPut(k, formatVersion)).Commit(); err != nil {
		return err
	}
	s.log.Info("etcd store: owner index entries put in creation order", "prefix", s.keys.prefix, "entries", ranked, "layout", formatVersion)
	return nil
}

// rankPage writes the r/ entries of the o/ entries kvs, read from dir.
func (s *Store) rankPage(ctx context.Context, dir string, kvs []*mvccpb.KeyValue) error {
	ops := make([]clientv3.Op, 0, len(kvs))
	for _, kv := range kvs {
		owner, id, err := splitOwnerKey(kv.Key[len(dir):])
		if err != nil {
			return fmt.Errorf("owner index key %x: %w", kv.Key, err)
		}
		rank := s.keys.prefix + dirRanked + owner + be64(entryRevision(kv.Value, kv.CreateRevision)) + id
		ops = append(ops, clientv3.OpTxn(
			[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(string(kv.Key)), "=", kv.CreateRevision)},
			[]clientv3.Op{clientv3.OpPut(rank, "")}, nil))
	}
	_, err := s.cli.Txn(ctx).Then(ops...).Commit()
	return err
}

// splitOwnerKey splits what follows o/ in an owner index key into the
// owner part and the job id.
func splitOwnerKey(b []byte) (owner, id string, err error) {
	n := 0
	for range 2 {
		l, w := binary.Uvarint(b[n:])
		if w <= 0 || l > uint64(len(b)-n-w) {
			return "", "", fmt.Errorf("no owner part")
		}
		n += w + int(l)
	}
	return string(b[:n]), string(b[n:]), nil
}
