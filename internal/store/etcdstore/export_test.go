package etcdstore

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Check verifies that the indexes hold exactly the stored jobs, with the
// jobs' CreateRevisions.
func (s *Store) Check(ctx context.Context) error {
	resp, err := s.cli.Get(ctx, s.keys.prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	want := map[string]int64{} // index key -> CreateRevision of its job
	got := map[string]int64{}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		rest := strings.TrimPrefix(k, s.keys.prefix)
		switch {
		case strings.HasPrefix(rest, dirJobs):
			id := strings.TrimPrefix(rest, dirJobs)
			j, err := decode(id, kv.Value, kv.ModRevision, kv.CreateRevision)
			if err != nil {
				return err
			}
			want[s.keys.owner(j.Owner, id)] = j.CreateRevision
			if j.Status.Ended() {
				want[s.keys.end(j)] = -1
			} else {
				want[s.keys.liveOf(id)] = j.CreateRevision
			}
		case strings.HasPrefix(rest, dirEnded):
			got[k] = -1
		case strings.HasPrefix(rest, dirOwners), strings.HasPrefix(rest, dirLive):
			got[k] = entryRevision(kv.Value, kv.CreateRevision)
		case strings.HasPrefix(rest, "meta/"), strings.HasPrefix(rest, "s/"), strings.HasPrefix(rest, "t/"), strings.HasPrefix(rest, "c/"), strings.HasPrefix(rest, "lead/"):
		default:
			return fmt.Errorf("unexpected key %q", k)
		}
	}
	for k, rev := range want {
		if g, ok := got[k]; !ok || g != rev {
			return fmt.Errorf("index entry %q: got %d (present %v), want %d", k, g, ok, rev)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("indexes hold %d entries for %d wanted", len(got), len(want))
	}
	return nil
}

// CacheReady reports whether the job cache's watch runs.
func (s *Store) CacheReady() bool {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.ready
}
