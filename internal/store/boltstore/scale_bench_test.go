package boltstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/store/scaletest"
)

// BenchmarkScale runs the large-store benchmark (scaletest) on bbolt
// files of 1,000 and of 1,000,000 ended jobs (BCPII_SCALE_JOBS), built
// once by direct batched writes and kept in $TMPDIR/bcpii-scale for later
// runs. Beside what scaletest reports, it reports GetOwned without the
// cache of decoded jobs and the time Open and jobs.New take on the large
// file; the sweep runs on a copy of it, for at most BCPII_SCALE_SWEEP
// (10m). Run it with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	large := scaletest.Large()
	dir := filepath.Join(os.TempDir(), "bcpii-scale")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		for _, n := range []int{1000, large} {
			s, err := Open(scaleFile(b, dir, n))
			if err != nil {
				b.Fatal(err)
			}
			scaletest.Reads(b, s, n, func(run func()) {
				cached := s.cache
				s.cache = newCache(0)
				defer func() { s.cache = cached }()
				run()
			})
			scaletest.RPC(b, s, n)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
		path := scaleFile(b, dir, large)
		b.ReportMetric(float64(scaleOpen(b, path).Milliseconds()), "open-ms")
		cp := filepath.Join(b.TempDir(), "jobs.db")
		copyFile(b, path, cp)
		s, err := Open(cp)
		if err != nil {
			b.Fatal(err)
		}
		scaletest.Sweep(b, s, large, scaletest.SweepBudget(10*time.Minute))
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// scaleFile returns the file of n jobs, building it if it is not there.
func scaleFile(b *testing.B, dir string, n int) string {
	path := filepath.Join(dir, fmt.Sprintf("jobs-%d-v%d.db", n, formatVersion))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	start := time.Now()
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	s, err := Open(tmp)
	if err != nil {
		b.Fatal(err)
	}
	s.db.NoSync = true
	owners := scaletest.Owners(n)
	const batch = 50_000
	for from := 0; from < n; from += batch {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			bk := open(tx)
			for i := from; i < min(n, from+batch); i++ {
				rev, err := bk.nextRevision()
				if err != nil {
					return err
				}
				j := scaletest.Job(i, owners)
				j.Revision, j.CreateRevision = rev, rev
				if err := bk.put(j); err != nil {
					return err
				}
				if err := bk.reindex(nil, &j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	s.db.NoSync = false
	if err := s.db.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s in %v", path, time.Since(start).Round(time.Millisecond))
	return path
}

// scaleOpen returns how long opening the store and starting a registry on
// it take, the registry's look for jobs not ended included.
func scaleOpen(b *testing.B, path string) time.Duration {
	start := time.Now()
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := jobs.New(jobs.Config{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Get(context.Background(), scaletest.ID(0)); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	reg.Close()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return took
}

func copyFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}
