package memstore

import (
	"fmt"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) jobs.Store {
		s := New()
		t.Cleanup(func() {
			if err := s.check(); err != nil {
				t.Errorf("indexes inconsistent: %v", err)
			}
		})
		return s
	})
}

// check verifies that the indexes hold exactly the stored jobs.
func (s *Store) check() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for o, es := range s.byOwner {
		if len(es) == 0 {
			return fmt.Errorf("owner %+v has an empty index entry", o)
		}
		if !slices.IsSortedFunc(es, func(a, b ownerEntry) int { return cmpOwner(a, b.createRev) }) {
			return fmt.Errorf("owner %+v: index not sorted", o)
		}
		for _, e := range es {
			j, ok := s.jobs[e.id]
			if !ok || j.Owner != o || j.CreateRevision != e.createRev {
				return fmt.Errorf("owner %+v: stale index entry %+v", o, e)
			}
			n++
		}
	}
	if n != len(s.jobs) {
		return fmt.Errorf("owner index has %d entries for %d jobs", n, len(s.jobs))
	}
	if !slices.IsSortedFunc(s.ended, cmpEnd) {
		return fmt.Errorf("end-time index not sorted")
	}
	n = 0
	live := 0
	for _, j := range s.jobs {
		if j.Status.Ended() {
			n++
			if _, ok := slices.BinarySearchFunc(s.ended, endEntry{j.Ended, j.ID}, cmpEnd); !ok {
				return fmt.Errorf("ended job %s missing from the end-time index", j.ID)
			}
		} else {
			live++
			if i, ok := slices.BinarySearchFunc(s.live, j.CreateRevision, cmpOwner); !ok || s.live[i].id != j.ID {
				return fmt.Errorf("job %s, not ended, missing from the index of such jobs", j.ID)
			}
		}
	}
	if n != len(s.ended) {
		return fmt.Errorf("end-time index has %d entries for %d ended jobs", len(s.ended), n)
	}
	if live != len(s.live) {
		return fmt.Errorf("index of jobs not ended has %d entries for %d such jobs", len(s.live), live)
	}
	return nil
}
