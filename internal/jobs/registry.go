package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"golang.org/x/time/rate"
)

// MinRetention is how long an ended job's status is kept at the least, as
// the HMC promises.
const MinRetention = 4 * time.Hour

// Config configures a Registry. Zero values take the documented defaults.
type Config struct {
	// Store keeps the jobs. Required.
	Store Store
	// Clock tells the time; zero means the system clock.
	Clock clock.Clock
	// Retention is how long an ended job is kept; zero means MinRetention.
	// Shorter than MinRetention is refused unless AllowShortRetention.
	Retention time.Duration
	// AllowShortRetention permits a Retention below MinRetention, for tests
	// and demonstrations only.
	AllowShortRetention bool
	// Logger receives the registry's logs; nil discards them.
	Logger *slog.Logger
}

// Registry is the single source of truth about jobs for callers: backends
// report status changes into it, and callers query, cancel, delete, wait and
// watch through it.
type Registry struct {
	store     Store
	clock     clock.Clock
	retention time.Duration
	// A sweep's deletes at once, and the limiter of their rate (nil:
	// none): the store's pace (SweepPacer).
	sweepDeletes int
	sweepLimit   *rate.Limiter
	sweep        sweepCursor
	log          *slog.Logger
	hub          *hub
	stop         context.CancelFunc
	done         chan struct{}
}

// New returns a Registry over cfg.Store and starts following the store's
// changes to wake watchers. Close stops that.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("jobs: Config.Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Retention == 0 {
		cfg.Retention = MinRetention
	}
	if cfg.Retention < 0 || (cfg.Retention < MinRetention && !cfg.AllowShortRetention) {
		return nil, fmt.Errorf("jobs: retention %v is shorter than the minimum %v", cfg.Retention, MinRetention)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	deletes, limit := sweepPace(cfg.Store)
	r := &Registry{
		sweepDeletes: deletes, sweepLimit: limit,
		store:     cfg.Store,
		clock:     cfg.Clock,
		retention: cfg.Retention,
		log:       cfg.Logger,
		hub:       newHub(),
		stop:      stop,
		done:      make(chan struct{}),
	}
	changes := cfg.Store.Watch(ctx)
	go func() {
		defer close(r.done)
		for c := range changes {
			r.hub.publish(c)
		}
	}()
	return r, nil
}

// Close stops following the store. It does not close the store.
func (r *Registry) Close() error {
	r.stop()
	<-r.done
	return nil
}

// Retention is how long an ended job's status is kept.
func (r *Registry) Retention() time.Duration { return r.retention }

// Caller is who asks, for the ownership rules.
type Caller struct {
	// Owner is the principal asking; it sees only its own jobs.
	Owner Owner
	// Check, when set, runs on a job the caller owns before any state rule,
	// and its error answers instead. The BCPii layer checks the
	// X-API-Target-Name header here.
	Check Checker
}

// Checker is a Caller's own rule for the jobs it owns.
type Checker interface {
	Check(Job) error
}

// Spec describes a job to create.
type Spec struct {
	// ID, when set, is the job's id: a caller that claims a job before it
	// exists chooses it (NewID). A clash is ErrExists.
	ID         string
	Owner      Owner
	Target     string
	Operation  string
	Cancelable bool
	BackendRef string
}

// Create registers a new running job.
func (r *Registry) Create(ctx context.Context, s Spec) (Job, error) {
	if s.Owner.IsZero() {
		return Job{}, errors.New("jobs: a job needs an owner")
	}
	j := Job{
		ID:         s.ID,
		Owner:      s.Owner,
		Target:     s.Target,
		Operation:  s.Operation,
		Cancelable: s.Cancelable,
		BackendRef: s.BackendRef,
		Status:     Running,
		Created:    r.clock.Now().UTC(),
	}
	chosen := j.ID != ""
	if !chosen {
		j.ID = NewID()
	}
	for {
		created, err := r.store.Create(ctx, j)
		if errors.Is(err, ErrExists) && !chosen { // 122 random bits: practically never
			j.ID = NewID()
			continue
		}
		if err != nil {
			return Job{}, fmt.Errorf("jobs: create: %w", err)
		}
		return created, nil
	}
}

// Get is Query Job Status: the caller's job, unless it has expired.
func (r *Registry) Get(ctx context.Context, c Caller, id string) (Job, error) {
	j, err := r.load(ctx, c.Owner, id)
	if err != nil {
		return Job{}, err
	}
	if c.Check != nil {
		if err := c.Check.Check(j); err != nil {
			return Job{}, err
		}
	}
	return j, nil
}

// load reads a job the owner may see: it exists, is the owner's, and has
// not expired. Anything else is ErrNotFound, indistinguishably.
func (r *Registry) load(ctx context.Context, owner Owner, id string) (Job, error) {
	if !ValidID(id) {
		return Job{}, ErrNotFound
	}
	j, err := r.store.GetOwned(ctx, owner, id)
	if errors.Is(err, ErrNoJob) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, fmt.Errorf("jobs: get: %w", err)
	}
	if j.Owner != owner || r.expired(j) {
		return Job{}, ErrNotFound
	}
	return j, nil
}

func (r *Registry) expired(j Job) bool {
	return j.Status.Ended() && r.clock.Now().After(j.Ended.Add(r.retention))
}

// update applies f to the caller's job and writes the result, retrying when
// another writer came first. f returns the new job or an error to answer.
func (r *Registry) update(ctx context.Context, c Caller, id string, f func(Job) (Job, error)) (Job, error) {
	for {
		j, err := r.Get(ctx, c, id)
		if err != nil {
			return Job{}, err
		}
		next, err := f(j)
		if err != nil {
			return Job{}, err
		}
		if written, again, err := r.write(ctx, next); !again {
			return written, err
		}
	}
}

// write stores j if no one wrote it since it was read; again reports that
// someone did, and the caller should read it anew and retry.
func (r *Registry) write(ctx context.Context, j Job) (written Job, again bool, err error) {
	written, err = r.store.Update(ctx, j)
	switch {
	case errors.Is(err, ErrConflict):
		return Job{}, true, nil
	case errors.Is(err, ErrNoJob):
		return Job{}, false, ErrNotFound
	case err != nil:
		return Job{}, false, fmt.Errorf("jobs: update: %w", err)
	}
	return written, false, nil
}

// Cancel is Cancel Job: a running, cancelable job becomes cancel-pending.
// The backend running it learns of the change by watching the job and ends
// it with Finish.
func (r *Registry) Cancel(ctx context.Context, c Caller, id string) (Job, error) {
	return r.update(ctx, c, id, func(j Job) (Job, error) {
		switch {
		case !j.Cancelable:
			return Job{}, ErrNotCancelable
		case j.Status.Ended():
			return Job{}, ErrEnded
		case j.Status == CancelPending:
			return Job{}, ErrCancelPending
		}
		j.Status = CancelPending
		return j, nil
	})
}

// Delete is Delete Completed Job Status: an ended job's status is removed.
func (r *Registry) Delete(ctx context.Context, c Caller, id string) error {
	for {
		j, err := r.Get(ctx, c, id)
		if err != nil {
			return err
		}
		if !j.Status.Ended() {
			return ErrNotEnded
		}
		err = r.store.Delete(ctx, j)
		switch {
		case errors.Is(err, ErrConflict):
			continue
		case errors.Is(err, ErrNoJob):
			return ErrNotFound
		case err != nil:
			return fmt.Errorf("jobs: delete: %w", err)
		}
		return nil
	}
}

// Result is how a job ended, as a backend reports it.
type Result struct {
	// Status is Complete or Canceled.
	Status Status
	// StatusCode is the HTTP status the operation would have answered.
	StatusCode int
	// ReasonCode goes with a StatusCode that is not 2xx.
	ReasonCode int
	// Results is the operation's JSON object, or nil.
	Results []byte
}

// ErrAlreadyEnded is returned by Finish for a job that has ended: ended jobs
// never change.
var ErrAlreadyEnded = errors.New("jobs: job has already ended")

// Finish ends a job with the backend's result. Only backends call it; it
// does not check ownership.
func (r *Registry) Finish(ctx context.Context, id string, res Result) (Job, error) {
	if !res.Status.Ended() {
		return Job{}, fmt.Errorf("jobs: finish with status %q", res.Status)
	}
	if res.StatusCode < 100 || res.StatusCode > 599 {
		return Job{}, fmt.Errorf("jobs: finish with status code %d", res.StatusCode)
	}
	var wait time.Duration
	for {
		j, err := r.store.Get(ctx, id)
		if errors.Is(err, ErrNoJob) {
			return Job{}, ErrNotFound
		}
		if err != nil {
			return Job{}, fmt.Errorf("jobs: get: %w", err)
		}
		if j.Status.Ended() {
			return j, ErrAlreadyEnded
		}
		j.Status = res.Status
		j.StatusCode = res.StatusCode
		j.ReasonCode = 0
		if j.HasReasonCode() {
			j.ReasonCode = res.ReasonCode
		}
		j.Results = nil
		if len(res.Results) > 0 {
			j.Results = append([]byte(nil), res.Results...)
		}
		j.Ended = r.clock.Now().UTC()
		written, again, err := r.write(ctx, j)
		if errors.Is(err, ErrStoreFull) {
			// The operation has ended: its end must not be lost
			// for want of space. Try again until space returns.
			if wait == 0 {
				r.log.Warn("the job store is full: the job's end is written once space returns", "job", id, "err", err)
			}
			wait = min(max(2*wait, storeFullFirstWait), storeFullMaxWait)
			if err := r.sleep(ctx, wait); err != nil {
				return Job{}, fmt.Errorf("jobs: finish %s while the store is full: %w", id, err)
			}
			continue
		}
		if !again {
			return written, err
		}
	}
}

// While the store is full, Finish tries again after storeFullFirstWait,
// doubling up to storeFullMaxWait.
const (
	storeFullFirstWait = 100 * time.Millisecond
	storeFullMaxWait   = 2 * time.Second
)

// sleep waits d on the registry's clock, or until ctx ends.
func (r *Registry) sleep(ctx context.Context, d time.Duration) error {
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ListOptions selects a page of the caller's jobs.
type ListOptions struct {
	Status Status // empty: any
	After  int64  // the Next of the previous page; 0 for the first
	Limit  int    // 1 or more
}

// List returns a page of the caller's jobs, oldest first, and the After of
// the next page (0 when this is the last).
func (r *Registry) List(ctx context.Context, c Caller, o ListOptions) ([]Job, int64, error) {
	if o.Limit < 1 {
		o.Limit = 1
	}
	var out []Job
	after := o.After
	for {
		// One more than asked for tells whether another page follows.
		page, err := r.store.List(ctx, ListQuery{Owner: c.Owner, Status: o.Status, After: after, Limit: o.Limit + 1})
		if err != nil {
			return nil, 0, fmt.Errorf("jobs: list: %w", err)
		}
		for _, j := range page {
			after = j.CreateRevision
			if r.expired(j) {
				continue
			}
			out = append(out, j)
			if len(out) > o.Limit {
				return out[:o.Limit], out[o.Limit-1].CreateRevision, nil
			}
		}
		if len(page) <= o.Limit {
			return out, 0, nil
		}
	}
}

// sweepDeletes is how many deletes a sweep has under way at once, so that
// a store that commits concurrent writes together (boltstore) syncs once
// for many of them; a SweepPacer store chooses its own number.
const sweepDeletes = 64

// SweepPacer is what a Store implements to pace a retention sweep: a store
// whose reads wait behind the writes in flight, as etcd's linearizable
// reads do, asks for fewer deletes at once than sweepDeletes, and fewer a
// second. A sweep need only keep up with the jobs that end: they expire as
// fast as they ended, a retention later.
type SweepPacer interface {
	// SweepPace returns how many deletes a sweep has under way at once,
	// and how many it starts a second at most (0: no limit).
	SweepPace() (deletes int, perSecond float64)
}

// sweepPace is the store's pace: its deletes at once, and a limiter of
// their rate (nil: none) on the registry's clock.
func sweepPace(st Store) (int, *rate.Limiter) {
	p, ok := st.(SweepPacer)
	if !ok {
		return sweepDeletes, nil
	}
	deletes, perSecond := p.SweepPace()
	deletes = max(1, deletes)
	if perSecond <= 0 {
		return deletes, nil
	}
	return deletes, rate.NewLimiter(rate.Limit(perSecond), deletes)
}

// paceSweep waits, on the registry's clock, until the sweep may start its
// next delete.
func (r *Registry) paceSweep(ctx context.Context) error {
	if r.sweepLimit == nil {
		return nil
	}
	now := r.clock.Now()
	d := r.sweepLimit.ReserveN(now, 1).DelayFrom(now)
	if d <= 0 {
		return nil
	}
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sweepRestart is how long sweeps go on from where the last left off
// before one reads the end-time index from its start again.
const sweepRestart = time.Hour

// sweepCursor is where the next sweep reads the end-time index from: after
// the last job the sweeps before read and deleted, so that no sweep reads
// again past what they deleted (a store may have to: etcd walks the
// entries it deleted, until they are compacted, for every read that spans
// them). Nothing expired is left behind but a job whose end time was
// already older than the cutoff when it ended (by the clock of whoever
// ended it, more than the retention behind); a sweep reads from the start
// again once sweepRestart has passed, and finds those.
type sweepCursor struct {
	mu    sync.Mutex
	after EndKey
	since time.Time // when a sweep last read from the start
}

// Sweep deletes up to limit jobs whose retention has run out and reports
// how many. It reads the store's end-time index, never all jobs, on from
// where the last sweep left off (sweepCursor); Get treats expired jobs as
// gone even before a sweep removes them. Each job is its own delete, so
// that a query waits for no sweep. One sweep runs at a time.
func (r *Registry) Sweep(ctx context.Context, limit int) (int, error) {
	r.sweep.mu.Lock()
	defer r.sweep.mu.Unlock()
	now := r.clock.Now()
	if now.Sub(r.sweep.since) >= sweepRestart {
		r.sweep.after, r.sweep.since = EndKey{}, now
	}
	old, err := r.store.EndedBefore(ctx, now.Add(-r.retention), r.sweep.after, limit)
	if err != nil {
		return 0, fmt.Errorf("jobs: sweep: %w", err)
	}
	var (
		mu       sync.Mutex
		n        int
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan Job)
	for range min(r.sweepDeletes, len(old)) {
		wg.Go(func() {
			for j := range work {
				err := r.paceSweep(ctx)
				if err == nil {
					err = r.store.Delete(ctx, j)
				}
				mu.Lock()
				switch {
				case errors.Is(err, ErrNoJob) || errors.Is(err, ErrConflict):
					// deleted or changed meanwhile
				case err != nil:
					firstErr = cmp.Or(firstErr, err)
				default:
					n++
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range old {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		work <- j
	}
	close(work)
	wg.Wait()
	if firstErr != nil { // the next sweep reads these again
		return n, fmt.Errorf("jobs: sweep: %w", firstErr)
	}
	if len(old) > 0 {
		r.sweep.after = EndKeyOf(old[len(old)-1])
	}
	return n, nil
}

// RunSweeper sweeps expired jobs every interval until ctx ends.
func (r *Registry) RunSweeper(ctx context.Context, interval time.Duration) {
	const batch = 1000
	for {
		t := r.clock.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		for {
			n, err := r.Sweep(ctx, batch)
			if err != nil {
				r.log.Warn("sweep of expired jobs failed", "err", err)
				break
			}
			if n > 0 {
				r.log.Debug("swept expired jobs", "count", n)
			}
			if n < batch {
				break
			}
		}
	}
}
