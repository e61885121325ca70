package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/goleak"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openTemp opens a store in a new file that is checked and closed when the
// test ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "jobs.db"))
}

// openAt opens the store at path, and checks and closes it when the test
// ends.
func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.check(); err != nil {
			t.Errorf("store inconsistent: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) jobs.Store { return openTemp(t) })
}

// check verifies the file and that the indexes hold exactly the stored
// jobs.
func (s *Store) check() error {
	return s.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("bbolt check: %w", err)
		}
		b := open(tx)
		var maxRev int64
		owners, ended, live := 0, 0, 0
		err := b.jobs.ForEach(func(k, v []byte) error {
			j, err := decode(k, v)
			if err != nil {
				return err
			}
			if j.ID != string(k) {
				return fmt.Errorf("job under key %s has ID %s", k, j.ID)
			}
			if j.CreateRevision <= 0 || j.Revision < j.CreateRevision {
				return fmt.Errorf("job %s has Revision %d, CreateRevision %d", k, j.Revision, j.CreateRevision)
			}
			maxRev = max(maxRev, j.Revision)
			if id := b.owners.Get(ownerKey(j)); string(id) != j.ID {
				return fmt.Errorf("owner index entry of job %s names %q", k, id)
			}
			owners++
			if j.Status.Ended() {
				if b.ended.Get(endKey(j)) == nil {
					return fmt.Errorf("ended job %s is missing from the end-time index", k)
				}
				ended++
			} else {
				if id := b.live.Get(liveKey(j)); string(id) != j.ID {
					return fmt.Errorf("job %s, not ended, is missing from the index of such jobs", k)
				}
				live++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n := b.owners.Stats().KeyN; n != owners {
			return fmt.Errorf("owner index has %d entries for %d jobs", n, owners)
		}
		if n := b.ended.Stats().KeyN; n != ended {
			return fmt.Errorf("end-time index has %d entries for %d ended jobs", n, ended)
		}
		if n := b.live.Stats().KeyN; n != live {
			return fmt.Errorf("index of jobs not ended has %d entries for %d such jobs", n, live)
		}
		if rev := int64(binary.BigEndian.Uint64(b.meta.Get(keyRevision))); rev < maxRev {
			return fmt.Errorf("revision counter %d is below job revision %d", rev, maxRev)
		}
		return nil
	})
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	alice := jobs.Owner{Kind: jobs.UserOwner, Name: "alice"}
	lpar := jobs.Owner{Kind: jobs.PartitionOwner, Name: "LPAR1"}
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))

	var kept []jobs.Job
	var lastRev int64
	for i := range 6 {
		j := jobs.Job{ID: jobs.NewID(), Owner: []jobs.Owner{alice, lpar}[i%2], Operation: fmt.Sprint(i), Status: jobs.Running, Created: at}
		c, err := s.Create(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			c.Status, c.StatusCode, c.Ended = jobs.Complete, 200, at.Add(time.Duration(i)*time.Minute)
			c.Results = []byte(`{"i": ` + fmt.Sprint(i) + `}`)
			if c, err = s.Update(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if i == 4 {
			if err := s.Delete(ctx, c); err != nil {
				t.Fatal(err)
			}
		} else {
			kept = append(kept, c)
		}
		lastRev = max(lastRev, c.Revision)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	for _, want := range kept {
		got, err := s.Get(ctx, want.ID)
		if err != nil {
			t.Fatalf("Get(%s) after reopening: %v", want.ID, err)
		}
		if d := storetest.Diff(got, want); d != "" {
			t.Errorf("job %s after reopening: %s", want.ID, d)
		}
	}
	listed, err := s.List(ctx, jobs.ListQuery{Owner: alice, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || listed[0].ID != kept[0].ID || listed[1].ID != kept[2].ID {
		t.Errorf("List after reopening returned %d jobs", len(listed))
	}
	old, err := s.EndedBefore(ctx, at.Add(time.Hour), jobs.EndKey{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 2 || old[0].ID != kept[0].ID || old[1].ID != kept[3].ID {
		t.Errorf("EndedBefore after reopening returned %d jobs", len(old))
	}

	// The revision counter continues.
	c, err := s.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: alice, Status: jobs.Running, Created: at})
	if err != nil {
		t.Fatal(err)
	}
	if c.CreateRevision <= lastRev {
		t.Errorf("CreateRevision %d after reopening, want above %d", c.CreateRevision, lastRev)
	}
	listed, err = s.List(ctx, jobs.ListQuery{Owner: alice, After: kept[2].CreateRevision, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].ID != c.ID {
		t.Errorf("List after the last job before reopening returned %d jobs, want the new one", len(listed))
	}
	// A stale revision from before the reopening still conflicts.
	stale := kept[1]
	stale.Revision--
	if _, err := s.Update(ctx, stale); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("Update with a stale revision after reopening: %v, want ErrConflict", err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s := openAt(t, path)
	done := make(chan error, 1)
	go func() {
		second, err := Open(path)
		if err == nil {
			second.Close()
		}
		done <- err
	}()
	bound, cancel := context.WithTimeout(context.Background(), OpenTimeout+storetest.Timeout)
	defer cancel()
	select {
	case err := <-done:
		if !errors.Is(err, berrors.ErrTimeout) {
			t.Fatalf("second Open of a file in use: %v, want a timeout", err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the file %s", err, path)
		}
	case <-bound.Done():
		t.Fatal("second Open of a file in use hangs")
	}
	// The first store is unaffected.
	if _, err := s.Create(t.Context(), jobs.Job{ID: jobs.NewID(), Owner: jobs.Owner{Kind: jobs.UserOwner, Name: "a"}, Status: jobs.Running}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadFiles(t *testing.T) {
	dir := t.TempDir()

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(garbage); err == nil {
		s.Close()
		t.Error("Open of a file that is not a database succeeded")
	} else if !strings.Contains(err.Error(), garbage) {
		t.Errorf("error %q does not name the file", err)
	}

	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("other"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(foreign); err == nil {
		s.Close()
		t.Error("Open of another program's bbolt file succeeded")
	}

	missingDir := filepath.Join(dir, "no", "such", "dir", "jobs.db")
	if s, err := Open(missingDir); err == nil {
		s.Close()
		t.Error("Open in a missing directory succeeded")
	} else if !strings.Contains(err.Error(), missingDir) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(context.Background(), jobs.Job{ID: jobs.NewID(), Status: jobs.Running})
	if err == nil || errors.Is(err, jobs.ErrExists) {
		t.Errorf("Create on a closed store: %v, want an error", err)
	}
	if _, err := s.Get(context.Background(), jobs.NewID()); err == nil || errors.Is(err, jobs.ErrNoJob) {
		t.Errorf("Get on a closed store: %v, want an error other than ErrNoJob", err)
	}
}
