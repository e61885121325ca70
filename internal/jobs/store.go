package jobs

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns. The registry turns them into HMC errors.
var (
	// ErrNoJob: no job has the id.
	ErrNoJob = errors.New("jobs: no such job")
	// ErrExists: Create was given an id that is in use.
	ErrExists = errors.New("jobs: job id exists")
	// ErrConflict: the job's stored revision is not the one the write
	// expected; someone else wrote it first.
	ErrConflict = errors.New("jobs: revision conflict")
)

// Store keeps jobs durably. The registry is its only user; the
// implementations (memstore, boltstore) pass the conformance suite in
// storetest. Every method is safe for concurrent use.
//
// Revisions come from one counter for the whole store that only grows:
// every write gets a revision greater than any revision before it, as
// etcd's do. Completion cursors rely on it.
type Store interface {
	Reader
	Writer
	Indexes
	Feed
}

// Reader reads one job.
type Reader interface {
	// Get returns the job with the id. ErrNoJob if there is none.
	Get(ctx context.Context, id string) (Job, error)
	// GetOwned returns the job with the id if owner owns it. ErrNoJob if
	// there is none or another owner's: the two are one answer, and take
	// the same time, because the owner is compared before the job is read,
	// so that no caller can tell another's job from no job.
	GetOwned(ctx context.Context, owner Owner, id string) (Job, error)
}

// Writer writes jobs, each write checked against the revision it expects.
type Writer interface {
	// Create adds j, whose ID must not be in use, and returns it with
	// Revision and CreateRevision set. ErrExists if the ID is taken.
	Create(ctx context.Context, j Job) (Job, error)
	// Update replaces the stored job if its revision is still j.Revision and
	// returns j with the new Revision. ErrNoJob if it is gone, ErrConflict
	// if it was written since.
	Update(ctx context.Context, j Job) (Job, error)
	// Delete removes j, the job as the store gave it at j.Revision, if its
	// revision is still j.Revision. ErrNoJob if it is gone, ErrConflict if
	// it was written since. What else the job's removal removes (its index
	// entries) a store may take from j rather than read again: the record
	// at j.Revision is the one j was read as.
	Delete(ctx context.Context, j Job) error
}

// Indexes read jobs by owner, by end time and by being unended, each from
// an index rather than every job.
type Indexes interface {
	// List returns up to q.Limit jobs of q.Owner whose CreateRevision is
	// greater than q.After, in CreateRevision order, and only those in
	// q.Status when it is set. It reads the owner's jobs, not all jobs.
	List(ctx context.Context, q ListQuery) ([]Job, error)
	// EndedBefore returns up to limit ended jobs whose Ended time is before
	// t and which come after after in end-time order (EndKey), in that
	// order. It reads an index by end time, not all jobs.
	EndedBefore(ctx context.Context, t time.Time, after EndKey, limit int) ([]Job, error)
	// Unended returns up to limit jobs that have not ended (running or
	// cancel-pending) whose CreateRevision is greater than after, in
	// CreateRevision order. It reads an index of such jobs, not all jobs.
	Unended(ctx context.Context, after int64, limit int) ([]Job, error)
}

// Feed is the store's change feed.
type Feed interface {
	// Watch delivers every change committed after it returns, in commit
	// order, none lost, until ctx ends; then the channel is closed.
	Watch(ctx context.Context) <-chan Change
}

// EndKey is a place in the end-time order of ended jobs: by Ended, then by
// ID. The zero EndKey comes before every job.
type EndKey struct {
	Ended time.Time
	ID    string
}

// EndKeyOf is the place of the ended job j in end-time order.
func EndKeyOf(j Job) EndKey { return EndKey{Ended: j.Ended, ID: j.ID} }

// ListQuery selects jobs for Store.List.
type ListQuery struct {
	Owner  Owner
	Status Status // empty: any
	After  int64  // CreateRevision to start after; 0 from the start
	Limit  int
}

// Change is one committed write. For a deletion, Job is the job as it was
// last stored and Deleted is set.
type Change struct {
	Job     Job
	Deleted bool
}
