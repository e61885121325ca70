package etcdstore

import (
	"context"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// rankBatch is how many entries one transaction moves from n/ to r/, and
// rankBacklog how many may wait for a move before a Create moves its own.
const (
	rankBatch   = 64
	rankBacklog = 4096
)

// ranker moves the owner index entries of created jobs from n/ to r/
// after their Create has answered, many in one transaction, so that a
// Create is still one transaction and their moves cost few. A goroutine
// runs while there are entries to move, and ends when there are none.
type ranker struct {
	mu      sync.Mutex
	waiting []jobs.Job
	running bool
}

// rank has the index entry of j, just created, moved from n/ to r/.
func (s *Store) rank(j jobs.Job) {
	r := &s.ranks
	r.mu.Lock()
	if len(r.waiting) >= rankBacklog {
		r.mu.Unlock()
		s.moveRanks([]jobs.Job{j})
		return
	}
	r.waiting = append(r.waiting, j)
	start := !r.running
	r.running = true
	r.mu.Unlock()
	if start {
		go s.runRanks()
	}
}

func (s *Store) runRanks() {
	r := &s.ranks
	for {
		r.mu.Lock()
		n := min(len(r.waiting), rankBatch)
		if n == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		batch := r.waiting[:n:n]
		r.waiting = r.waiting[n:]
		r.mu.Unlock()
		s.moveRanks(batch)
	}
}

// moveRanks moves the entries of js from n/ to r/ in one transaction,
// each only if it is still there as its Create wrote it: a job deleted
// since, or given to another owner, has none. What it cannot move stays
// in n/, where List finds it too.
func (s *Store) moveRanks(js []jobs.Job) {
	rctx, done := s.request(context.Background())
	defer done()
	ops := make([]clientv3.Op, len(js))
	for i, j := range js {
		k := s.keys.newOf(j.Owner, j.ID)
		ops[i] = clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", j.CreateRevision)},
			[]clientv3.Op{clientv3.OpDelete(k), clientv3.OpPut(s.keys.rank(j.Owner, j.CreateRevision, j.ID), "")}, nil)
	}
	_, err := s.again(rctx, func(actx context.Context) error {
		resp, err := s.cli.Txn(actx).Then(ops...).Commit()
		if err == nil {
			s.observe(resp.Header)
		}
		return err
	})
	if err != nil {
		s.log.Warn("new jobs' owner index entries stay in n/", "jobs", len(js), "err", err.Error())
	}
}
