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
func (m *Metrics) Store(st jobs.Store) jobs.Store { return &store{Store: st, m: m} }

type store struct {
	jobs.Store
	m *Metrics
}

func (s *store) observe(op string, start time.Time, err error) {
	s.m.storeOps.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, jobs.ErrNoJob) && !errors.Is(err, jobs.ErrExists) && !errors.Is(err, jobs.ErrConflict) &&
		!errors.Is(err, context.Canceled) {
		s.m.storeErrors.WithLabelValues(op).Inc()
	}
}

func (s *store) Create(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	start := time.Now()
	j, err := s.Store.Create(ctx, j)
	s.observe("create", start, err)
	return j, err
}

func (s *store) Get(ctx context.Context, id string) (jobs.Job, error) {
	start := time.Now()
	j, err := s.Store.Get(ctx, id)
	s.observe("get", start, err)
	return j, err
}

func (s *store) GetOwned(ctx context.Context, owner jobs.Owner, id string) (jobs.Job, error) {
	start := time.Now()
	j, err := s.Store.GetOwned(ctx, owner, id)
	s.observe("get_owned", start, err)
	return j, err
}

func (s *store) Update(ctx context.Context, j jobs.Job) (jobs.Job, error) {
	start := time.Now()
	j, err := s.Store.Update(ctx, j)
	s.observe("update", start, err)
	return j, err
}

func (s *store) Delete(ctx context.Context, id string, revision int64) error {
	start := time.Now()
	err := s.Store.Delete(ctx, id, revision)
	s.observe("delete", start, err)
	return err
}

func (s *store) List(ctx context.Context, q jobs.ListQuery) ([]jobs.Job, error) {
	start := time.Now()
	js, err := s.Store.List(ctx, q)
	s.observe("list", start, err)
	return js, err
}

func (s *store) EndedBefore(ctx context.Context, t time.Time, limit int) ([]jobs.Job, error) {
	start := time.Now()
	js, err := s.Store.EndedBefore(ctx, t, limit)
	s.observe("ended_before", start, err)
	return js, err
}
