package boltstore

import (
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
)

// A file of format 2, which has no index of jobs not ended, gets one when
// it is opened, built from its jobs, and says format 3 from then on.
func TestOpenUpgradesFormat2(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	owner := jobs.Owner{Kind: jobs.PartitionOwner, Name: "IBM390PS.CPC1.LP1"}
	var running []string
	for i := range 6 {
		j, err := s.Create(ctx, jobs.Job{ID: jobs.NewID(), Owner: owner, Status: jobs.Running, Created: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			j.Status, j.StatusCode, j.Ended = jobs.Complete, 200, time.Now()
			if _, err := s.Update(ctx, j); err != nil {
				t.Fatal(err)
			}
			continue
		}
		running = append(running, j.ID)
	}
	// Make it a file of format 2, as an earlier gateway left it.
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketLive); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, be64(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("open a file of format 2: %v", err)
	}
	defer s.Close()
	got, err := s.Unended(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(running) {
		t.Fatalf("Unended after the upgrade: %d jobs, want %d", len(got), len(running))
	}
	for i, j := range got {
		if j.ID != running[i] {
			t.Errorf("Unended[%d] = %s, want %s", i, j.ID, running[i])
		}
	}
	if err := s.check(); err != nil {
		t.Error(err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if f := tx.Bucket(bucketMeta).Get(keyFormat); string(f) != string(be64(formatVersion)) {
			t.Errorf("format after the upgrade: %x", f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
