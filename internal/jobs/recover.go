package jobs

import (
	"context"
	"errors"
	"fmt"
)

// Recover settles the jobs a backend's earlier run left not ended, as the
// backend starts and before it creates jobs of its own: resume is asked of
// each (running or cancel-pending, oldest first) whether the backend can
// follow it on; each it cannot follow is ended with lost, since its fate
// cannot be known, and would otherwise wait forever. It reads the store's
// index of jobs not ended, never all jobs. A crash while it runs loses
// nothing: the next start finds the same jobs and settles them again.
// It returns how many jobs it ended.
func (r *Registry) Recover(ctx context.Context, resume func(Job) bool, lost Result) (int, error) {
	const page = 500
	ended := 0
	after := int64(0)
	for {
		js, err := r.store.Unended(ctx, after, page)
		if err != nil {
			return ended, fmt.Errorf("jobs: recover: %w", err)
		}
		for _, j := range js {
			after = j.CreateRevision
			if resume(j) {
				continue
			}
			_, err := r.Finish(ctx, j.ID, lost)
			switch {
			case err == nil:
				ended++
			case errors.Is(err, ErrAlreadyEnded), errors.Is(err, ErrNotFound):
			default:
				return ended, err
			}
		}
		if len(js) < page {
			return ended, nil
		}
	}
}
