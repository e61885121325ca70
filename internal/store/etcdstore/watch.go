package etcdstore

import (
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// rewatchDelay is how long Watch waits before it watches again after
// etcd ended a watch (a compaction, a cancel by the server).
const rewatchDelay = 200 * time.Millisecond

// Watch delivers every change committed after it returns. It starts at
// the revision after the highest this Store has seen, so every write it
// returned, or whose effect it read, comes before; the etcd client keeps
// the watch across lost connections, resuming after the last change it
// delivered.
func (s *Store) Watch(ctx context.Context) <-chan jobs.Change {
	out := make(chan jobs.Change)
	from := s.seen.Load() + 1
	go func() {
		defer close(out)
		s.follow(ctx, from, out)
	}()
	return out
}

func (s *Store) follow(ctx context.Context, from int64, out chan<- jobs.Change) {
	prefix := s.keys.jobs()
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		wch := s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(from))
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if resp.CompactRevision > from {
					s.log.Error("changes to jobs were compacted away before they were delivered; watchers may miss them",
						"from", from, "compacted", resp.CompactRevision)
					from = resp.CompactRevision
				}
				s.log.Warn("etcd ended a watch of jobs; watching again", "err", err)
				break
			}
			for _, ev := range resp.Events {
				// Callers may be answered from a change at once: the job
				// cache, whose own watch may be behind this one, must not
				// answer the job older.
				s.cache.wrote(string(ev.Kv.Key[len(prefix):]), ev.Kv.ModRevision)
				c, ok := s.change(ev, prefix)
				from = ev.Kv.ModRevision + 1
				if !ok {
					continue
				}
				select {
				case out <- c:
				case <-ctx.Done():
					cancel()
					return
				}
			}
		}
		cancel()
		t := s.clock.NewTimer(rewatchDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

func (s *Store) change(ev *clientv3.Event, prefix string) (jobs.Change, bool) {
	id := strings.TrimPrefix(string(ev.Kv.Key), prefix)
	if ev.Type == clientv3.EventTypeDelete {
		if ev.PrevKv == nil {
			return jobs.Change{Job: jobs.Job{ID: id}, Deleted: true}, true
		}
		j, err := decode(id, ev.PrevKv.Value, ev.PrevKv.ModRevision, ev.PrevKv.CreateRevision)
		if err != nil {
			s.log.Error("a deleted job's record does not decode", "job", id, "err", err)
			return jobs.Change{Job: jobs.Job{ID: id}, Deleted: true}, true
		}
		return jobs.Change{Job: j, Deleted: true}, true
	}
	j, err := decode(id, ev.Kv.Value, ev.Kv.ModRevision, ev.Kv.CreateRevision)
	if err != nil {
		s.log.Error("a job's record does not decode", "job", id, "err", err)
		return jobs.Change{}, false
	}
	return jobs.Change{Job: j}, true
}
