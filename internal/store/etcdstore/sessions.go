package etcdstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
)

// Sessions is a bcpii.SessionTable in etcd, beside a Store's jobs, so that
// every replica on the prefix shares the web-services sessions. Each
// session is two keys under one lease that lapses when the session
// expires, so etcd forgets expired sessions by itself:
//
//	P s/<hex of the SHA-256 of the session id>   the JSON SessionRecord
//	P t/<job notification topic>                 the same hex key
//
// A replica keeps the records it has read in a cache that a watch on the
// session keys keeps current (sessioncache.go): a lookup of a cached
// session reads nothing from etcd.
type Sessions struct {
	s     *Store
	now   func() time.Time
	cache *sessionCache
}

var _ bcpii.SessionTable = (*Sessions)(nil)

// Sessions returns the session table under the store's prefix. Its cache
// is kept current until ctx ends; after that every lookup reads etcd.
func (s *Store) Sessions(ctx context.Context) *Sessions {
	t := &Sessions{s: s, now: s.clock.Now, cache: &sessionCache{records: map[string]bcpii.SessionRecord{}}}
	go t.cache.run(ctx, s, s.keys.prefix+"s/")
	return t
}

func (t *Sessions) key(k bcpii.SessionKey) string {
	return t.s.keys.prefix + "s/" + hex.EncodeToString(k[:])
}
func (t *Sessions) topic(topic string) string { return t.s.keys.prefix + "t/" + topic }

// call runs f with a context bounded by the request timeout.
func (t *Sessions) call(op string, f func(ctx context.Context) error) error {
	return t.callCtx(context.Background(), op, f)
}

// callCtx runs f under ctx, the request's, bounded by the request timeout.
func (t *Sessions) callCtx(ctx context.Context, op string, f func(ctx context.Context) error) error {
	rctx, done := t.s.request(ctx)
	defer done()
	return t.s.wrap(ctx, "session "+op, "", f(rctx))
}

// Add keeps r until it expires.
func (t *Sessions) Add(k bcpii.SessionKey, r bcpii.SessionRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("etcdstore: encode session: %w", err)
	}
	ttl := int64(math.Ceil(r.Expires.Sub(t.now()).Seconds()))
	return t.call("add", func(ctx context.Context) error {
		lease, err := t.s.cli.Grant(ctx, max(ttl, 1))
		if err != nil {
			return err
		}
		resp, err := t.s.cli.Txn(ctx).Then(
			clientv3.OpPut(t.key(k), string(v), clientv3.WithLease(lease.ID)),
			clientv3.OpPut(t.topic(r.JobNotificationTopic), hex.EncodeToString(k[:]), clientv3.WithLease(lease.ID)),
		).Commit()
		if err == nil {
			t.s.observe(resp.Header)
		}
		return err
	})
}

func (t *Sessions) get(ctx context.Context, key string) (bcpii.SessionRecord, int64, bool, error) {
	resp, err := t.s.cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return bcpii.SessionRecord{}, 0, false, err
	}
	var r bcpii.SessionRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		return bcpii.SessionRecord{}, 0, false, fmt.Errorf("decode session: %w", err)
	}
	return r, resp.Kvs[0].Lease, true, nil
}

// Get returns the record under k.
func (t *Sessions) Get(ctx context.Context, k bcpii.SessionKey) (r bcpii.SessionRecord, ok bool, err error) {
	err = t.callCtx(ctx, "get", func(ctx context.Context) error {
		r, ok, err = t.cachedGet(ctx, t.key(k))
		return err
	})
	return r, ok, err
}

// Remove forgets the record under k: its lease is revoked, which deletes
// both its keys at once. Of two replicas logging one session off at the
// same time, one finds it.
func (t *Sessions) Remove(k bcpii.SessionKey) (ok bool, err error) {
	err = t.call("remove", func(ctx context.Context) error {
		var lease int64
		_, lease, ok, err = t.get(ctx, t.key(k))
		if err != nil || !ok {
			return err
		}
		resp, err := t.s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(t.key(k)), "=", lease)).
			Then(clientv3.OpDelete(t.key(k))).Commit()
		if err != nil {
			return err
		}
		ok = resp.Succeeded && resp.Responses[0].GetResponseDeleteRange().Deleted == 1
		t.cache.forget(t.key(k))
		if ok {
			_, err = t.s.cli.Revoke(ctx, clientv3.LeaseID(lease))
		}
		return err
	})
	return ok, err
}

// ByJobTopic returns the record whose job notification topic is topic.
func (t *Sessions) ByJobTopic(topic string) (r bcpii.SessionRecord, ok bool, err error) {
	err = t.call("by topic", func(ctx context.Context) error {
		resp, err := t.s.cli.Get(ctx, t.topic(topic))
		if err != nil || len(resp.Kvs) == 0 {
			return err
		}
		r, _, ok, err = t.get(ctx, t.s.keys.prefix+"s/"+string(resp.Kvs[0].Value))
		return err
	})
	return r, ok, err
}

// Sweep does nothing: etcd forgets a session when its lease lapses.
func (t *Sessions) Sweep(time.Time) int { return 0 }

// Len is the number of sessions kept.
func (t *Sessions) Len() int {
	var n int64
	_ = t.call("count", func(ctx context.Context) error {
		resp, err := t.s.cli.Get(ctx, t.s.keys.prefix+"s/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil {
			n = resp.Count
		}
		return err
	})
	return int(n)
}
