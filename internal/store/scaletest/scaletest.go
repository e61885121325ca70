// Package scaletest is the large-store benchmark every store runs: stores
// of 1,000 and of 1,000,000 ended jobs across 1,000 owners (fewer for the
// small one, so that both have full pages of 100), the p50 of GetOwned and
// of List of an owner's first page at both sizes, the same read through
// GetJob and ListJobs over gRPC, and the registry's retention sweep of
// every job with the longest query made meanwhile. A store's benchmark
// fills the store its own fastest way with the jobs Job(i, Owners(n)) for
// i < n, and measures its own start-up.
package scaletest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime/trace"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/bcpii-gateway/bcpii-gateway/bcpii"
	bcpiiv1 "github.com/bcpii-gateway/bcpii-gateway/gen/bcpii/v1"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock"
	"github.com/bcpii-gateway/bcpii-gateway/internal/clock/clocktest"
	"github.com/bcpii-gateway/bcpii-gateway/internal/jobs"
	"github.com/bcpii-gateway/bcpii-gateway/internal/server"
)

// Base is when the jobs ended, one millisecond apart.
var Base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Large is the number of jobs of the large store: BCPII_SCALE_JOBS, or
// 1,000,000.
func Large() int {
	if n, err := strconv.Atoi(os.Getenv("BCPII_SCALE_JOBS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// SweepBudget is how long a sweep may run: BCPII_SCALE_SWEEP, or def.
func SweepBudget(def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BCPII_SCALE_SWEEP")); err == nil && d > 0 {
		return d
	}
	return def
}

// Owners is how many owners a store of n jobs spreads them over.
func Owners(n int) int { return max(1, min(1000, n/100)) }

// ID is the id of job i.
func ID(i int) string {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	s := hex.EncodeToString(h[:16])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// Owner is owner number i.
func Owner(i int) jobs.Owner {
	return jobs.Owner{Kind: jobs.PartitionOwner, Name: fmt.Sprintf("IBM390PS.CPC%d.LP%03d", i/100, i%100)}
}

// Job is job i of a store with the given number of owners.
func Job(i, owners int) jobs.Job {
	ended := Base.Add(time.Duration(i) * time.Millisecond)
	return jobs.Job{
		ID: ID(i), Owner: Owner(i % owners), Target: "IBM390PS.CPC1.LP2",
		Operation: "POST /api/logical-partitions/732b5207-24d8-4994-81dc-c9f05bcd2917/operations/activate",
		Status:    jobs.Complete, StatusCode: 200, Results: []byte(`{"message":"Logical partition LP2 activated."}`),
		Created: ended.Add(-3 * time.Second), Ended: ended,
	}
}

// Reads reports the p50 of GetOwned of random jobs and of List of a
// random owner's first page of 100 of s, which holds n jobs, as
// get-p50-ns/N and list100-p50-ns/N. The gets run twice, the first time to
// fill whatever cache the store keeps as random reads fill it. With
// uncached set, the gets run a third time inside it, reported as
// get-uncached-p50-ns/N.
func Reads(b *testing.B, s jobs.Store, n int, uncached func(run func())) {
	ctx := context.Background()
	owners := Owners(n)
	rng := rand.New(rand.NewPCG(1, 2))
	const reads = 20_000
	gets := func() []time.Duration {
		d := make([]time.Duration, 0, reads)
		for range reads {
			i := rng.IntN(n)
			t := time.Now()
			if _, err := s.GetOwned(ctx, Owner(i%owners), ID(i)); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t))
		}
		return d
	}
	gets()
	b.ReportMetric(float64(P50(gets()).Nanoseconds()), fmt.Sprintf("get-p50-ns/%d", n))
	if uncached != nil {
		var cold []time.Duration
		uncached(func() { cold = gets() })
		b.ReportMetric(float64(P50(cold).Nanoseconds()), fmt.Sprintf("get-uncached-p50-ns/%d", n))
	}
	lists := make([]time.Duration, 0, reads/10)
	for range reads / 10 {
		i := rng.IntN(n)
		t := time.Now()
		page, err := s.List(ctx, jobs.ListQuery{Owner: Owner(i % owners), Limit: 100})
		if err != nil || len(page) != 100 {
			b.Fatalf("list: %d jobs, %v", len(page), err)
		}
		lists = append(lists, time.Since(t))
	}
	b.ReportMetric(float64(P50(lists).Nanoseconds()), fmt.Sprintf("list100-p50-ns/%d", n))
}

// RPC reports the p50 of GetJob of random jobs of one owner, and of
// ListJobs of its first page of 100, after one warm-up pass of the same
// calls, over gRPC on loopback TCP through
// every interceptor, the owner calling as the gateway's local partition,
// as GetJob-p50-ns/N and ListJobs100-p50-ns/N.
func RPC(b *testing.B, s jobs.Store, n int) {
	// The jobs ended just now, for the registry.
	now := clocktest.NewFake(Base.Add(time.Duration(n) * time.Millisecond))
	reg, err := jobs.New(jobs.Config{Store: s, Clock: now})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	tn, err := bcpii.ParseTargetName(Owner(0).Name)
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
	mdCtx := metadata.AppendToOutgoingContext(ctx, "x-api-target-name", Job(0, 1).Target)
	owners := Owners(n)
	const calls = 5000
	var gets, lists []time.Duration
	// The same calls twice: the first pass warms what the store caches,
	// the second is measured.
	for range 2 {
		rng := rand.New(rand.NewPCG(5, 6))
		gets, lists = make([]time.Duration, 0, calls), make([]time.Duration, 0, calls/10)
		for k := range calls {
			i := rng.IntN(n/owners) * owners // a job of owner 0
			t := time.Now()
			if _, err := client.GetJob(mdCtx, &bcpiiv1.GetJobRequest{JobId: ID(i)}); err != nil {
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
	}
	b.ReportMetric(float64(P50(gets).Nanoseconds()), fmt.Sprintf("GetJob-p50-ns/%d", n))
	b.ReportMetric(float64(P50(lists).Nanoseconds()), fmt.Sprintf("ListJobs100-p50-ns/%d", n))
}

// shifted is the real clock moved by d.
type shifted struct{ d time.Duration }

func (s shifted) Now() time.Time { return time.Now().Add(s.d) }

func (shifted) NewTimer(d time.Duration) clock.Timer { return clock.Real{}.NewTimer(d) }

func (shifted) AfterFunc(d time.Duration, f func()) clock.Timer {
	return clock.Real{}.AfterFunc(d, f)
}

// P50 sorts d and returns its median.
func P50(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// Sweep has a registry sweep s, which holds the n jobs, once all have
// expired, as the registry's sweeper does, for at most budget, while
// another goroutine queries it, as it did for 5 seconds before. It
// reports the rate, the jobs swept, the longest query before and during
// the sweep and the p99.9 during it. A sweep that ends inside its budget
// must have swept every job.
func Sweep(b *testing.B, s jobs.Store, n int, budget time.Duration) {
	// The registry's clock reads a time when every job has expired, and
	// runs in real time: a store's sweep pace waits on it.
	clk := shifted{time.Until(Base.Add(time.Duration(n)*time.Millisecond + jobs.MinRetention + time.Hour))}
	reg, err := jobs.New(jobs.Config{Store: s, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	ctx := context.Background()
	rec := startRecorder(b) // before the queries: its start stops the world
	defer rec.stop()
	idleGets, idleLists := queries(s, n, func() bool { return false }, time.Now().Add(5*time.Second), nil)
	idle := slices.Concat(idleGets, idleLists)
	var stop atomic.Bool
	var gets, lists []time.Duration
	var wg sync.WaitGroup
	wg.Go(func() { gets, lists = queries(s, n, stop.Load, time.Time{}, rec.query) })
	start := time.Now()
	swept := 0
	for time.Since(start) < budget {
		k, err := reg.Sweep(ctx, 1000)
		if err != nil {
			b.Fatal(err)
		}
		swept += k
		if k < 1000 {
			break
		}
	}
	took := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if swept != n && took < budget {
		b.Fatalf("swept %d jobs, want %d", swept, n)
	}
	during := slices.Concat(gets, lists)
	slices.Sort(during)
	b.ReportMetric(float64(swept)/took.Seconds(), "swept/s")
	b.ReportMetric(float64(swept), "swept")
	b.ReportMetric(float64(slices.Max(idle).Milliseconds()), "max-query-before-sweep-ms")
	b.ReportMetric(float64(during[len(during)-1].Milliseconds()), "max-query-during-sweep-ms")
	b.ReportMetric(float64(during[len(during)*999/1000].Milliseconds()), "p99.9-query-during-sweep-ms")
	// Which kind of query the longest are: a get reads one job, a list an
	// owner's index and a page of jobs.
	for _, k := range []struct {
		name       string
		idle, runs []time.Duration
	}{{"get", idleGets, gets}, {"list", idleLists, lists}} {
		if len(k.idle) > 0 && len(k.runs) > 0 {
			b.ReportMetric(float64(slices.Max(k.idle).Milliseconds()), "max-"+k.name+"-before-sweep-ms")
			b.ReportMetric(float64(slices.Max(k.runs).Milliseconds()), "max-"+k.name+"-during-sweep-ms")
			b.ReportMetric(float64(P50(k.runs).Microseconds()), k.name+"-p50-us-during-sweep")
		}
	}
}

// queries makes GetOwned and List calls of random jobs and owners until
// stop says so or the deadline passes, and returns their times; done, if
// set, is told each one's.
func queries(s jobs.Store, n int, stop func() bool, deadline time.Time, done func(time.Duration)) (gets, lists []time.Duration) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	owners := Owners(n)
	for k := 0; !stop() && (deadline.IsZero() || time.Now().Before(deadline)); k++ {
		i := rng.IntN(n)
		t := time.Now()
		into := &gets
		if k%2 == 0 {
			_, _ = s.GetOwned(ctx, Owner(i%owners), ID(i))
		} else {
			_, _ = s.List(ctx, jobs.ListQuery{Owner: Owner(i % owners), Limit: 100})
			into = &lists
		}
		d := time.Since(t)
		*into = append(*into, d)
		if done != nil {
			done(d)
		}
	}
	return gets, lists
}

// recorder keeps a flight recording of the sweep's last seconds when
// BCPII_SCALE_TRACE names a file, and writes it there when a query first
// takes longer than slowQuery, for go tool trace to show what held it.
type recorder struct {
	b    *testing.B
	fr   *trace.FlightRecorder
	path string
	once sync.Once
}

const slowQuery = 35 * time.Millisecond

func startRecorder(b *testing.B) *recorder {
	r := &recorder{b: b, path: os.Getenv("BCPII_SCALE_TRACE")}
	if r.path == "" {
		return r
	}
	r.fr = trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 2 * time.Second, MaxBytes: 256 << 20})
	if err := r.fr.Start(); err != nil {
		b.Fatal(err)
	}
	return r
}

func (r *recorder) query(d time.Duration) {
	if r.fr == nil || d <= slowQuery {
		return
	}
	r.once.Do(func() {
		f, err := os.Create(r.path)
		if err == nil {
			_, err = r.fr.WriteTo(f)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			r.b.Error(err)
		}
		r.b.Logf("a query took %v; the trace before it is in %s", d, r.path)
	})
}

func (r *recorder) stop() {
	if r.fr != nil {
		r.fr.Stop()
	}
}
