package boltstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// scaleBase is when the jobs of the scale files ended, one millisecond
// apart.
var scaleBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// BenchmarkScale measures the store full: bbolt files of 1,000 and of
// 1,000,000 ended jobs (BCPII_SCALE_JOBS) across 1,000 owners (fewer for
// the small file, so that both have full pages of 100), built once by
// direct batched writes and kept in $TMPDIR/bcpii-scale for later runs. It
// reports the p50 of GetOwned on random jobs (through the cache, and
// without it) and of List of a random owner's first page, at both sizes,
// and the p50 of the GetJob and ListJobs calls over gRPC that read them; the time Open and jobs.New take on the large file;
// and, on a copy of it, how fast the registry's sweep deletes the jobs
// once all have expired (all of them, or as many as BCPII_SCALE_SWEEP, a
// duration, allows), with the longest and the p99.9 GetOwned or List made
// meanwhile, beside the longest made in 5 seconds before the sweep. Run it
// with -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	large := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("BCPII_SCALE_JOBS")); err == nil && n > 0 {
		large = n
	}
	dir := filepath.Join(os.TempDir(), "bcpii-scale")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		for _, n := range []int{1000, large} {
			path := scaleFile(b, dir, n)
			s, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			get, getCold, list := scaleReads(b, s, n)
			b.ReportMetric(float64(get.Nanoseconds()), fmt.Sprintf("get-p50-ns/%d", n))
			b.ReportMetric(float64(getCold.Nanoseconds()), fmt.Sprintf("get-uncached-p50-ns/%d", n))
			b.ReportMetric(float64(list.Nanoseconds()), fmt.Sprintf("list100-p50-ns/%d", n))
			rpcGet, rpcList := scaleRPC(b, s, n)
			b.ReportMetric(float64(rpcGet.Nanoseconds()), fmt.Sprintf("GetJob-p50-ns/%d", n))
			b.ReportMetric(float64(rpcList.Nanoseconds()), fmt.Sprintf("ListJobs100-p50-ns/%d", n))
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
		path := scaleFile(b, dir, large)
		b.ReportMetric(float64(scaleOpen(b, path).Milliseconds()), "open-ms")
		r := scaleSweep(b, path, large)
		b.ReportMetric(float64(r.swept)/r.took.Seconds(), "swept/s")
		b.ReportMetric(float64(r.swept), "swept")
		b.ReportMetric(float64(r.worstIdle.Milliseconds()), "max-query-before-sweep-ms")
		b.ReportMetric(float64(r.worst.Milliseconds()), "max-query-during-sweep-ms")
		b.ReportMetric(float64(r.p999.Milliseconds()), "p99.9-query-during-sweep-ms")
	}
}

func scaleOwners(n int) int { return max(1, min(1000, n/100)) }

func scaleID(i int) string {
	h := sha256.Sum256(binary8(uint64(i)))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	s := hex.EncodeToString(h[:16])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

func binary8(v uint64) []byte { return be64(v) }

func scaleOwner(i int) jobs.Owner {
	return jobs.Owner{Kind: jobs.PartitionOwner, Name: fmt.Sprintf("IBM390PS.CPC%d.LP%03d", i/100, i%100)}
}

func scaleJob(i, owners int) jobs.Job {
	ended := scaleBase.Add(time.Duration(i) * time.Millisecond)
	return jobs.Job{
		ID: scaleID(i), Owner: scaleOwner(i % owners), Target: "IBM390PS.CPC1.LP2",
		Operation: "POST /api/logical-partitions/732b5207-24d8-4994-81dc-c9f05bcd2917/operations/activate",
		Status:    jobs.Complete, StatusCode: 200, Results: []byte(`{"message":"Logical partition LP2 activated."}`),
		Created: ended.Add(-3 * time.Second), Ended: ended,
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
	owners := scaleOwners(n)
	const batch = 50_000
	for from := 0; from < n; from += batch {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			bk := open(tx)
			for i := from; i < min(n, from+batch); i++ {
				rev, err := bk.nextRevision()
				if err != nil {
					return err
				}
				j := scaleJob(i, owners)
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

// scaleReads returns the p50 of GetOwned of random jobs through the cache
// (as full as random reads make it), the same with no cache, and of List
// of a random owner's first page of 100.
func scaleReads(b *testing.B, s *Store, n int) (get, getCold, list time.Duration) {
	ctx := context.Background()
	owners := scaleOwners(n)
	rng := rand.New(rand.NewPCG(1, 2))
	const reads = 20_000
	gets := func() []time.Duration {
		d := make([]time.Duration, 0, reads)
		for range reads {
			i := rng.IntN(n)
			t := time.Now()
			if _, err := s.GetOwned(ctx, scaleOwner(i%owners), scaleID(i)); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t))
		}
		return d
	}
	gets() // fill the cache as random reads do
	warm := gets()
	cached := s.cache
	s.cache = newCache(0)
	cold := gets()
	s.cache = cached
	lists := make([]time.Duration, 0, reads/10)
	for range reads / 10 {
		i := rng.IntN(n)
		t := time.Now()
		page, err := s.List(ctx, jobs.ListQuery{Owner: scaleOwner(i % owners), Limit: 100})
		if err != nil || len(page) != 100 {
			b.Fatalf("list: %d jobs, %v", len(page), err)
		}
		lists = append(lists, time.Since(t))
	}
	return p50(warm), p50(cold), p50(lists)
}

// scaleRPC returns the p50 of GetJob of random jobs of one owner, and of
// ListJobs of its first page of 100, over gRPC on loopback TCP through
// every interceptor, the owner calling as the gateway's local partition.
func scaleRPC(b *testing.B, s *Store, n int) (get, list time.Duration) {
	// The jobs ended just now, for the registry.
	now := clock.NewFake(scaleBase.Add(time.Duration(n) * time.Millisecond))
	reg, err := jobs.New(jobs.Config{Store: s, Clock: now})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	tn, err := bcpii.ParseTargetName(scaleOwner(0).Name)
	if err != nil {
		b.Fatal(err)
	}
	p, err := bcpii.PartitionPrincipal(tn)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Config{Registry: reg, Authenticator: &bcpii.Authenticator{Local: p}, Loopback: true, Clock: now})
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	defer func() { cancel(); <-served }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := bcpiiv1.NewJobServiceClient(conn)
	mdCtx := metadata.AppendToOutgoingContext(ctx, "x-api-target-name", scaleJob(0, 1).Target)
	owners := scaleOwners(n)
	rng := rand.New(rand.NewPCG(5, 6))
	const calls = 5000
	gets := make([]time.Duration, 0, calls)
	lists := make([]time.Duration, 0, calls/10)
	for k := range calls {
		i := rng.IntN(n/owners) * owners // a job of owner 0
		t := time.Now()
		if _, err := client.GetJob(mdCtx, &bcpiiv1.GetJobRequest{JobId: scaleID(i)}); err != nil {
			b.Fatal(err)
		}
		gets = append(gets, time.Since(t))
		if k%10 == 0 {
			t := time.Now()
			resp, err := client.ListJobs(mdCtx, &bcpiiv1.ListJobsRequest{PageSize: 100})
			if err != nil || len(resp.GetJobs()) != 100 {
				b.Fatalf("ListJobs: %d jobs, %v", len(resp.GetJobs()), err)
			}
			lists = append(lists, time.Since(t))
		}
	}
	return p50(gets), p50(lists)
}

func p50(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
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
	if _, err := s.Get(context.Background(), scaleID(0)); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	reg.Close()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return took
}

// sweepResult is what scaleSweep measured.
type sweepResult struct {
	swept            int
	took             time.Duration
	worstIdle, worst time.Duration // the longest query before and during the sweep
	p999             time.Duration // of the queries during the sweep
}

// scaleSweep sweeps a copy of the file of n jobs once all have expired,
// as the registry's sweeper does, for at most BCPII_SCALE_SWEEP (10m),
// while another goroutine queries it, as it did for 5 seconds before.
func scaleSweep(b *testing.B, path string, n int) sweepResult {
	budget := 10 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("BCPII_SCALE_SWEEP")); err == nil && d > 0 {
		budget = d
	}
	cp := filepath.Join(b.TempDir(), "jobs.db")
	copyFile(b, path, cp)
	s, err := Open(cp)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	clk := clock.NewFake(scaleBase.Add(time.Duration(n)*time.Millisecond + jobs.MinRetention + time.Hour))
	reg, err := jobs.New(jobs.Config{Store: s, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()
	var r sweepResult
	idle := scaleQueries(s, n, func() bool { return false }, time.Now().Add(5*time.Second))
	r.worstIdle = slices.Max(idle)
	var stop atomic.Bool
	var during []time.Duration
	var wg sync.WaitGroup
	wg.Go(func() { during = scaleQueries(s, n, stop.Load, time.Time{}) })
	start := time.Now()
	for time.Since(start) < budget {
		k, err := reg.Sweep(ctx, 1000)
		if err != nil {
			b.Fatal(err)
		}
		r.swept += k
		if k < 1000 {
			break
		}
	}
	r.took = time.Since(start)
	stop.Store(true)
	wg.Wait()
	if r.swept != n && r.took < budget {
		b.Fatalf("swept %d jobs, want %d", r.swept, n)
	}
	slices.Sort(during)
	r.worst, r.p999 = during[len(during)-1], during[len(during)*999/1000]
	return r
}

// scaleQueries makes GetOwned and List calls of random jobs and owners
// until stop says so or the deadline passes, and returns their times.
func scaleQueries(s *Store, n int, stop func() bool, deadline time.Time) []time.Duration {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	owners := scaleOwners(n)
	var d []time.Duration
	for k := 0; !stop() && (deadline.IsZero() || time.Now().Before(deadline)); k++ {
		i := rng.IntN(n)
		t := time.Now()
		if k%2 == 0 {
			_, _ = s.GetOwned(ctx, scaleOwner(i%owners), scaleID(i))
		} else {
			_, _ = s.List(ctx, jobs.ListQuery{Owner: scaleOwner(i % owners), Limit: 100})
		}
		d = append(d, time.Since(t))
	}
	return d
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
