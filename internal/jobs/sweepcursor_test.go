package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/memstore"
)

// cursorStore is a memstore that keeps the place each EndedBefore was
// asked to read after, and fails the deletes it is told to.
type cursorStore struct {
	*memstore.Store
	mu     sync.Mutex
	afters []jobs.EndKey
	fail   bool
}

func (s *cursorStore) EndedBefore(ctx context.Context, t time.Time, after jobs.EndKey, limit int) ([]jobs.Job, error) {
	s.mu.Lock()
	s.afters = append(s.afters, after)
	s.mu.Unlock()
	return s.Store.EndedBefore(ctx, t, after, limit)
}

func (s *cursorStore) Delete(ctx context.Context, j jobs.Job) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("store down")
	}
	return s.Store.Delete(ctx, j)
}

func (s *cursorStore) lastAfter() jobs.EndKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.afters[len(s.afters)-1]
}

// A sweep reads the end-time index on from the last job the sweeps
// before deleted, again from the same place after a delete failed, and
// from the start once an hour, where it finds a job written with an end
// time already older than the cutoff.
func TestSweepGoesOnFromWhereTheLastLeftOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a wait
	defer cancel()
	st := &cursorStore{Store: memstore.New()}
	fc := clocktest.NewFake(epoch)
	r, err := jobs.New(jobs.Config{Store: st, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var done []jobs.Job
	for range 5 {
		j := create(t, r, alice, false)
		j, err := r.Finish(ctx, j.ID, jobs.Result{Status: jobs.Complete, StatusCode: 204})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, j)
		fc.Advance(time.Second)
	}
	fc.Advance(jobs.MinRetention)
	sweep := func(want int, after jobs.EndKey) {
		t.Helper()
		n, err := r.Sweep(ctx, 2)
		if n != want || (err != nil) != st.fail {
			t.Fatalf("sweep: %d jobs, %v; want %d", n, err, want)
		}
		if got := st.lastAfter(); got != after {
			t.Fatalf("the sweep read after %+v, want after %+v", got, after)
		}
	}
	sweep(2, jobs.EndKey{})
	sweep(2, jobs.EndKeyOf(done[1]))
	st.fail = true
	sweep(0, jobs.EndKeyOf(done[3]))
	st.fail = false
	sweep(1, jobs.EndKeyOf(done[3])) // the failed delete's job again

	// A job whose end time is older than the cutoff when it is written.
	late := done[0]
	late.ID, late.Revision, late.CreateRevision = "late", 0, 0
	if _, err := st.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	sweep(0, jobs.EndKeyOf(done[4]))
	fc.Advance(time.Hour)
	sweep(1, jobs.EndKey{})
	if _, err := st.Get(ctx, "late"); !errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("the late job is still stored: %v", err)
	}
}
