package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// Store wraps st so that every operation is timed and every failure
// counted. Answers the contract names (no such job, id in use, revision
// conflict) are not failures.
func (m *Metrics) Store(st jobs.Store) jobs.Store { return &store{st: st, m: m} }

type store struct {
	st jobs.Store
	m  *Metrics
}

// Every method of the store is timed: the wrapper embeds nothing, so a
// method added to jobs.Store fails this check until it is wrapped too.
var _ jobs.Store = (*store)(nil)

func (s *store) observe(op string, start time.Time, err error) {
	s.m.storeOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, jobs.ErrNoJob) && !errors.Is(err, jobs.ErrExists) && !errors.Is(err, jobs.ErrConflict) &&
		!errors.Is(err, context.Canceled) {
		s.m.storeErrors.WithLabelValues(op).Inc()
	}
}

func (s *store) Create(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	start := time.Now()
	j, err := s.st.Create(ctx, j)
	s.observe("create", start, err)
	return j, err
}

func (s *store) Get(ctx context.Context, id string) (jobs.Job, error) {
	start := time.Now()
	j, err := s.st.Get(ctx, id)
	s.observe("get", start, err)
	return j, err
}

func (s *store) GetOwned(ctx context.Context, owner jobs.Owner, id string) (jobs.Job, error) {
	start := time.Now()
	j, err := s.st.GetOwned(ctx, owner, id)
	s.observe("get_owned", start, err)
	return j, err
}

func (s *store) Update(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	start := time.Now()
	j, err := s.st.Update(ctx, j)
	s.observe("update", start, err)
	return j, err
}

func (s *store) Delete(ctx context.Context, j jobs.Job) error {
	start := time.Now()
	err := s.st.Delete(ctx, j)
	s.observe("delete", start, err)
	return err
}

func (s *store) List(ctx context.Context, q jobs.ListQuery) ([]jobs.Job, error) {
	start := time.Now()
	js, err := s.st.List(ctx, q)
	s.observe("list", start, err)
	return js, err
}

func (s *store) EndedBefore(ctx context.Context, t time.Time, after jobs.EndKey, limit int) ([]jobs.Job, error) {
	start := time.Now()
	js, err := s.st.EndedBefore(ctx, t, after, limit)
	s.observe("ended_before", start, err)
	return js, err
}

func (s *store) Unended(ctx context.Context, after int64, limit int) ([]jobs.Job, error) {
	start := time.Now()
	js, err := s.st.Unended(ctx, after, limit)
	s.observe("unended", start, err)
	return js, err
}

// Watch is timed until the feed is set up; its changes then flow untimed.
func (s *store) Watch(ctx context.Context) <-chan jobs.Change {
	start := time.Now()
	ch := s.st.Watch(ctx)
	s.observe("watch", start, nil)
	return ch
}
