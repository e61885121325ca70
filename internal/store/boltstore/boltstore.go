// Package boltstore is a jobs.Store in a single bbolt file. Every write is
// committed in a bbolt transaction, shared with the writes made at the same
// time (commit.go), and synced to disk before the call returns, so a job a
// caller was told about survives a crash of the process. Decoded jobs are
// cached in memory (cache.go).
//
// The file holds four buckets:
//
//	jobs    job id -> JSON record of the job with its revisions
//	owners  owner prefix + big-endian CreateRevision -> job id
//	ended   end-time key + job id -> empty, for ended jobs only
//	unended big-endian CreateRevision -> job id, for jobs not ended
//	meta    "revision" -> big-endian revision counter, "format" -> 3 (formatVersion)
//
// The owner prefix is the owner's kind and name, each preceded by its
// length, so that no owner's prefix begins another's. The end-time key is
// the Unix seconds of Ended with the sign bit flipped, then its
// nanoseconds, both big-endian, so keys sort as the times do over the whole
// range of time.Time.
//
// Like etcd, the store keeps one revision counter, which every successful
// write advances.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/feed"
)

// OpenTimeout is how long Open waits for the file lock that another
// process may hold.
const OpenTimeout = 2 * time.Second

// formatVersion is the layout this package reads and writes.
// formatVersion 2 leads each job record with its owner, so that GetOwned
// can refuse another owner's job without decoding it; 3 adds the index of
// jobs not ended (migrate.go upgrades a file of format 2).
const formatVersion = 3

var (
	bucketJobs   = []byte("jobs")
	bucketOwners = []byte("owners")
	bucketEnded  = []byte("ended")
	bucketLive   = []byte("unended")
	bucketMeta   = []byte("meta")
	keyRevision  = []byte("revision")
	keyFormat    = []byte("format")
)

// Store is a jobs.Store in a bbolt file. Use Open to get one.
type Store struct {
	db   *bbolt.DB
	path string
	// writer is the writers' lock (commit.go): one group commits at a
	// time, so that changes are published in the order they were
	// committed.
	writer  chan struct{}
	queueMu sync.Mutex
	queue   []*pending // writes waiting for a commit
	cache   *cache
	feed    feed.Feed
}

var _ jobs.Store = (*Store)(nil)

// Open opens the store in the file at path, creating it if need be. Only
// one process may have the file open; Open fails after OpenTimeout if
// another does.
func Open(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: OpenTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: %s is locked by another process (waited %v): %w", path, OpenTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := db.Update(initialize); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	return &Store{db: db, path: path, writer: make(chan struct{}, 1), cache: newCache(cacheSize)}, nil
}

// initialize creates the buckets of a new file and checks the format of an
// existing one.
func initialize(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta != nil {
		f := meta.Get(keyFormat)
		if len(f) == 8 && binary.BigEndian.Uint64(f) == 2 {
			if err := migrate2(tx); err != nil {
				return fmt.Errorf("upgrading format 2: %w", err)
			}
			f = meta.Get(keyFormat)
		}
		if len(f) != 8 || binary.BigEndian.Uint64(f) != formatVersion {
			return fmt.Errorf("unsupported format %x, want %d", f, formatVersion)
		}
		for _, name := range [][]byte{bucketJobs, bucketOwners, bucketEnded, bucketLive} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bucket %q is missing", name)
			}
		}
		return nil
	}
	if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		return fmt.Errorf("not a job store: it has a bucket %q but no %q", name, bucketMeta)
	}); err != nil {
		return err
	}
	for _, name := range [][]byte{bucketJobs, bucketOwners, bucketEnded, bucketLive, bucketMeta} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	meta = tx.Bucket(bucketMeta)
	if err := meta.Put(keyFormat, be64(formatVersion)); err != nil {
		return err
	}
	return meta.Put(keyRevision, be64(0))
}

// Close closes the file. Watches end only with their contexts.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}

// Path is the file the store is in.
func (s *Store) Path() string { return s.path }

// record is the stored form of a job. Results is kept as bytes, which JSON
// encodes in base64, because encoding a json.RawMessage would compact and
// escape it, and job results are kept byte for byte.
type record struct {
	jobs.Job
	Results        []byte `json:"results,omitempty"`
	Revision       int64  `json:"revision"`
	CreateRevision int64  `json:"create-revision"`
}

// encode writes a job record: its owner (ownerPrefix, itself led by its
// length), then the job as JSON.
func encode(j jobs.Job) ([]byte, error) {
	r := record{Job: j, Results: j.Results, Revision: j.Revision, CreateRevision: j.CreateRevision}
	r.Job.Results = nil
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	return append(appendString(nil, string(ownerPrefix(j.Owner))), body...), nil
}

// splitRecord returns a record's owner part and its JSON part.
func splitRecord(b []byte) (owner, body []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, errors.New("record has no owner")
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}

func decode(id, b []byte) (jobs.Job, error) {
	_, b, err := splitRecord(b)
	if err != nil {
		return jobs.Job{}, fmt.Errorf("decode job %s: %w", id, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return jobs.Job{}, fmt.Errorf("decode job %s: %w", id, err)
	}
	j := r.Job
	j.Results = r.Results
	j.Revision = r.Revision
	j.CreateRevision = r.CreateRevision
	return j, nil
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ownerPrefix is the start of every owner-index key of o.
func ownerPrefix(o jobs.Owner) []byte {
	return appendString(appendString(nil, string(o.Kind)), o.Name)
}

func ownerKey(j jobs.Job) []byte {
	return binary.BigEndian.AppendUint64(ownerPrefix(j.Owner), uint64(j.CreateRevision))
}

// endTime is the part of an end-time key that sorts by t.
func endTime(t time.Time) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

const endTimeLen = 12

func endKey(j jobs.Job) []byte { return append(endTime(j.Ended), j.ID...) }

// liveKey is j's key in the index of jobs not ended.
func liveKey(j jobs.Job) []byte { return be64(uint64(j.CreateRevision)) }

// buckets are the buckets of one transaction.
type buckets struct {
	jobs, owners, ended, live, meta *bbolt.Bucket
	// committed, in a group commit's transaction, is the last committed
	// state of the jobs the group has not written yet (commit.go); nil
	// elsewhere.
	committed func(id string) (jobs.Job, bool)
}

func open(tx *bbolt.Tx) buckets {
	return buckets{
		jobs:   tx.Bucket(bucketJobs),
		owners: tx.Bucket(bucketOwners),
		ended:  tx.Bucket(bucketEnded),
		live:   tx.Bucket(bucketLive),
		meta:   tx.Bucket(bucketMeta),
	}
}

// reindex moves a job's index entries from what old needs to what j needs;
// nil stands for no job (a create, a delete). Every index is written in the
// job's own transaction.
func (b buckets) reindex(old, j *jobs.Job) error {
	if old != nil && (j == nil || old.Owner != j.Owner) {
		if err := b.owners.Delete(ownerKey(*old)); err != nil {
			return err
		}
	}
	if j != nil && (old == nil || old.Owner != j.Owner) {
		if err := b.owners.Put(ownerKey(*j), []byte(j.ID)); err != nil {
			return err
		}
	}
	if old != nil {
		var err error
		if old.Status.Ended() {
			err = b.ended.Delete(endKey(*old))
		} else {
			err = b.live.Delete(liveKey(*old))
		}
		if err != nil {
			return err
		}
	}
	if j == nil {
		return nil
	}
	if j.Status.Ended() {
		return b.ended.Put(endKey(*j), nil)
	}
	return b.live.Put(liveKey(*j), []byte(j.ID))
}

func (b buckets) get(id string) (jobs.Job, bool, error) {
	if b.committed != nil {
		if j, ok := b.committed(id); ok {
			return j, true, nil
		}
	}
	v := b.jobs.Get([]byte(id))
	if v == nil {
		return jobs.Job{}, false, nil
	}
	j, err := decode([]byte(id), v)
	return j, err == nil, err
}

// nextRevision advances the revision counter and returns its new value.
func (b buckets) nextRevision() (int64, error) {
	v := b.meta.Get(keyRevision)
	if len(v) != 8 {
		return 0, fmt.Errorf("revision counter is %d bytes, want 8", len(v))
	}
	rev := binary.BigEndian.Uint64(v)
	if rev >= math.MaxInt64 {
		return 0, errors.New("revision counter exhausted")
	}
	rev++
	return int64(rev), b.meta.Put(keyRevision, be64(rev))
}

func (b buckets) put(j jobs.Job) error {
	v, err := encode(j)
	if err != nil {
		return err
	}
	return b.jobs.Put([]byte(j.ID), v)
}

// Create adds j.
func (s *Store) Create(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	j = copyJob(j)
	c, err := s.write(ctx, func(b buckets) (jobs.Change, error) {
		if b.jobs.Get([]byte(j.ID)) != nil {
			return jobs.Change{}, jobs.ErrExists
		}
		rev, err := b.nextRevision()
		if err != nil {
			return jobs.Change{}, err
		}
		j.Revision, j.CreateRevision = rev, rev
		if err := b.put(j); err != nil {
			return jobs.Change{}, err
		}
		if err := b.reindex(nil, &j); err != nil {
			return jobs.Change{}, err
		}
		return jobs.Change{Job: j}, nil
	})
	if err != nil {
		return jobs.Job{}, s.wrap("create", j.ID, err)
	}
	return copyJob(c.Job), nil
}

// Get returns the job with the id.
func (s *Store) Get(ctx context.Context, id string) (jobs.Job, error) {
	return s.read(ctx, id, nil)
}

// GetOwned returns the job with the id if owner owns it. The owner leads
// the record, so another owner's job is refused before it is decoded, in
// the time a missing one is.
func (s *Store) GetOwned(ctx context.Context, owner jobs.Owner, id string) (jobs.Job, error) {
	return s.read(ctx, id, &owner)
}

// read returns the job with the id, and only if its record's owner is
// owner when owner is not nil. A cached job is returned only to its owner:
// another owner's job is refused from the file, in the time a missing one
// is.
func (s *Store) read(ctx context.Context, id string, owner *jobs.Owner) (jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return jobs.Job{}, err
	}
	j, ok, gen := s.cache.get(id)
	if ok && (owner == nil || j.Owner == *owner) {
		return copyJob(j), nil
	}
	var prefix []byte
	if owner != nil {
		prefix = ownerPrefix(*owner)
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get([]byte(id))
		if v == nil {
			return jobs.ErrNoJob
		}
		if prefix != nil {
			got, _, err := splitRecord(v)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, prefix) {
				return jobs.ErrNoJob
			}
		}
		var err error
		j, err = decode([]byte(id), v)
		return err
	})
	if err != nil {
		return jobs.Job{}, s.wrap("get", id, err)
	}
	s.cache.fill(j, gen)
	return j, nil
}

// Update replaces the stored job if its revision is still j.Revision.
func (s *Store) Update(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	j = copyJob(j)
	c, err := s.write(ctx, func(b buckets) (jobs.Change, error) {
		old, ok, err := b.get(j.ID)
		if err != nil {
			return jobs.Change{}, err
		}
		if !ok {
			return jobs.Change{}, jobs.ErrNoJob
		}
		if old.Revision != j.Revision {
			return jobs.Change{}, jobs.ErrConflict
		}
		rev, err := b.nextRevision()
		if err != nil {
			return jobs.Change{}, err
		}
		j.Revision, j.CreateRevision = rev, old.CreateRevision
		if err := b.put(j); err != nil {
			return jobs.Change{}, err
		}
		if err := b.reindex(&old, &j); err != nil {
			return jobs.Change{}, err
		}
		return jobs.Change{Job: j}, nil
	})
	if err != nil {
		return jobs.Job{}, s.wrap("update", j.ID, err)
	}
	return copyJob(c.Job), nil
}

// Delete removes j if its revision is still j.Revision. It reads the
// stored job in the write's transaction, and removes its index entries.
func (s *Store) Delete(ctx context.Context, j jobs.Job) error {
	id, revision := j.ID, j.Revision
	_, err := s.write(ctx, func(b buckets) (jobs.Change, error) {
		old, ok, err := b.get(id)
		if err != nil {
			return jobs.Change{}, err
		}
		if !ok {
			return jobs.Change{}, jobs.ErrNoJob
		}
		if old.Revision != revision {
			return jobs.Change{}, jobs.ErrConflict
		}
		if _, err := b.nextRevision(); err != nil {
			return jobs.Change{}, err
		}
		if err := b.jobs.Delete([]byte(id)); err != nil {
			return jobs.Change{}, err
		}
		if err := b.reindex(&old, nil); err != nil {
			return jobs.Change{}, err
		}
		return jobs.Change{Job: old, Deleted: true}, nil
	})
	return s.wrap("delete", id, err)
}

// List returns a page of q.Owner's jobs in CreateRevision order.
func (s *Store) List(ctx context.Context, q jobs.ListQuery) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit <= 0 || q.After == math.MaxInt64 {
		return nil, nil
	}
	prefix := ownerPrefix(q.Owner)
	start := binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(max(q.After+1, 0)))
	var out []jobs.Job
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := open(tx)
		c := b.owners.Cursor()
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			j, ok, err := b.get(string(v))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("owner index names job %s, which is missing", v)
			}
			if q.Status != "" && j.Status != q.Status {
				continue
			}
			out = append(out, j)
			if len(out) == q.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("list", "", err)
	}
	return out, nil
}

// EndedBefore returns up to limit ended jobs whose Ended is before t and
// which come after after, in end-time order.
func (s *Store) EndedBefore(ctx context.Context, t time.Time, after jobs.EndKey, limit int) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	cutoff := endTime(t)
	var out []jobs.Job
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := open(tx)
		c := b.ended.Cursor()
		k, _ := c.First()
		if after != (jobs.EndKey{}) {
			from := append(endTime(after.Ended), after.ID...)
			if k, _ = c.Seek(from); bytes.Equal(k, from) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			if len(k) < endTimeLen {
				return fmt.Errorf("end-time index key %x is too short", k)
			}
			if bytes.Compare(k[:endTimeLen], cutoff) >= 0 {
				break
			}
			id := k[endTimeLen:]
			j, ok, err := b.get(string(id))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("end-time index names job %s, which is missing", id)
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("ended before", "", err)
	}
	return out, nil
}

// Unended returns up to limit jobs that have not ended whose
// CreateRevision is above after, in CreateRevision order, from the index
// of such jobs.
func (s *Store) Unended(ctx context.Context, after int64, limit int) ([]jobs.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || after == math.MaxInt64 {
		return nil, nil
	}
	var out []jobs.Job
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := open(tx)
		c := b.live.Cursor()
		for k, v := c.Seek(be64(uint64(max(after+1, 0)))); k != nil && len(out) < limit; k, v = c.Next() {
			j, ok, err := b.get(string(v))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("index of jobs not ended names job %s, which is missing", v)
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("unended", "", err)
	}
	return out, nil
}

// Watch delivers every change committed after it returns.
func (s *Store) Watch(ctx context.Context) <-chan jobs.Change {
	// Holding the writers' lock means no write has committed without
	// being published while subscribing.
	defer s.lockWriters()()
	return s.feed.Subscribe(ctx)
}

// wrap leaves the errors of the Store contract and nil as they are and
// names the file and job in any other.
func (s *Store) wrap(op, id string, err error) error {
	switch {
	case err == nil, errors.Is(err, jobs.ErrNoJob), errors.Is(err, jobs.ErrExists), errors.Is(err, jobs.ErrConflict),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case id != "":
		return fmt.Errorf("boltstore: %s %s in %s: %w", op, id, s.path, err)
	default:
		return fmt.Errorf("boltstore: %s in %s: %w", op, s.path, err)
	}
}

// copyJob returns j with its own copy of Results, so that what callers
// pass in, get back and receive from Watch share no memory.
func copyJob(j jobs.Job) jobs.Job {
	if j.Results != nil {
		j.Results = bytes.Clone(j.Results)
	}
	return j
}
